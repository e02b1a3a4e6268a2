#!/usr/bin/env python3
"""Write the guest benchmark's input: a deterministic file of text-like, structured and random
data, the same bytes on every host and Python version (SHAKE-256 of a fixed seed is the only
source of randomness; no random module, no dict/set ordering, no floats).

usage: gen-input.py OUTFILE [--size BYTES]

The file is a sequence of 64 KiB chunks, each one of three kinds in the proportions
text 5 : structured 2 : random 1 (so gzip/bzip2/xz each see what they are good and bad at):
  text        English-like prose from a generated 4096-word vocabulary with a skewed (Zipf-like)
              choice of words, sentences, punctuation, numbers, 72-column lines and paragraphs;
  structured  little-endian records (counter, slowly drifting values, a small enum, a tag
              string), like a binary log or a table dump;
  random      SHAKE-256 output: incompressible.
It prints the file's size and sha256; with the default size the digest must be DIGEST below
(the build checks it, so a change of this script that changes the bytes is noticed).
"""
import hashlib
import struct
import sys

SEED = b"softcpu guest_bench input v1"
DEFAULT_SIZE = 4 * 1024 * 1024
DIGEST = "02f76c5e1c44ab70e83b85246e8fae3f37e3aec3e3955327c2cfc3771777853e"
CHUNK = 64 * 1024
PATTERN = "TTSTTRTS"  # per 8 chunks: T text (5), S structured (2), R random (1)


class Stream:
    """Deterministic bytes and integers from SHAKE-256(SEED || label)."""

    def __init__(self, label, size):
        self.data = hashlib.shake_256(SEED + b"/" + label).digest(size)
        self.pos = 0

    def u32(self):
        if self.pos + 4 > len(self.data):
            raise RuntimeError("stream exhausted")
        v = int.from_bytes(self.data[self.pos:self.pos + 4], "little")
        self.pos += 4
        return v

    def below(self, n):
        return self.u32() % n

    def skewed(self, n):
        """An index in [0, n), small ones much more often (about Zipf's law)."""
        u = self.u32()
        # u^3 / 2^64 on a 32-bit u: cube of a uniform in [0,1) scaled to n.
        return (u * u * u * n) >> 96


def vocabulary(rng, count=4096):
    onsets = ["", "b", "c", "d", "f", "g", "h", "j", "k", "l", "m", "n", "p", "r", "s", "t",
              "v", "w", "y", "z", "bl", "br", "ch", "cl", "cr", "dr", "fl", "fr", "gr", "pl",
              "pr", "sc", "sh", "sl", "sp", "st", "str", "th", "tr", "wh"]
    vowels = ["a", "e", "i", "o", "u", "ai", "ea", "ee", "io", "oo", "ou", "y"]
    codas = ["", "", "", "n", "r", "s", "t", "l", "m", "nd", "ng", "nt", "rt", "st", "ck", "x"]
    words = []
    seen = {}
    short = ["the", "of", "and", "to", "a", "in", "is", "it", "that", "was", "for", "on",
             "are", "with", "as", "be", "at", "by", "this", "had", "not", "but", "from", "or"]
    for w in short:
        seen[w] = True
        words.append(w)
    while len(words) < count:
        syllables = 1 + rng.below(3) + (rng.below(4) == 0)
        w = "".join(onsets[rng.below(len(onsets))] + vowels[rng.below(len(vowels))] +
                    codas[rng.below(len(codas))] for _ in range(syllables))
        if len(w) >= 2 and w not in seen:
            seen[w] = True
            words.append(w)
    return words


def text_chunk(rng, words, size):
    out = []
    line = ""
    length = 0
    sentence_left = 0
    while length < size:
        if sentence_left == 0:
            sentence_left = 4 + rng.below(18)
            w = words[rng.skewed(len(words))].capitalize()
        else:
            w = words[rng.skewed(len(words))]
        r = rng.below(100)
        if r < 3:
            w = str(rng.below(10 ** (1 + rng.below(6))))
        sentence_left -= 1
        if sentence_left == 0:
            w += "." if rng.below(8) else ("?" if rng.below(2) else "!")
        elif r >= 94:
            w += ","
        elif r == 93:
            w += ";"
        if len(line) + 1 + len(w) > 72:
            out.append(line + "\n")
            length += len(line) + 1
            line = ""
            if sentence_left == 0 and rng.below(6) == 0:
                out.append("\n")
                length += 1
        line = w if not line else line + " " + w
    data = "".join(out).encode("ascii")
    return data[:size] if len(data) >= size else (data + b" " * (size - len(data)))


def structured_chunk(rng, state, size):
    recs = []
    n = 0
    tags = [b"ok", b"retry", b"timeout", b"queued", b"done", b"error:eio", b"error:enospc"]
    while n < size:
        state["seq"] += 1
        state["a"] = (state["a"] + rng.below(7) - 3) & 0xFFFFFFFF
        state["b"] = (state["b"] + rng.below(1000)) & 0xFFFFFFFF
        kind = rng.skewed(8)
        tag = tags[rng.skewed(len(tags))]
        rec = struct.pack("<IIIHB", state["seq"], state["a"], state["b"], kind, len(tag)) + tag
        recs.append(rec)
        n += len(rec)
    return b"".join(recs)[:size]


def generate(size):
    nchunks = (size + CHUNK - 1) // CHUNK
    # Generous streams: text uses about 4 draws of 4 bytes per 6 bytes of output.
    rng = Stream(b"words", 1 << 20)
    words = vocabulary(rng)
    text_rng = Stream(b"text", 4 * size)
    struct_rng = Stream(b"struct", 2 * size)
    random_bytes = Stream(b"random", size).data
    state = {"seq": 0, "a": 1 << 20, "b": 0}
    parts = []
    rpos = 0
    for i in range(nchunks):
        kind = PATTERN[i % len(PATTERN)]
        if kind == "T":
            parts.append(text_chunk(text_rng, words, CHUNK))
        elif kind == "S":
            parts.append(structured_chunk(struct_rng, state, CHUNK))
        else:
            parts.append(random_bytes[rpos:rpos + CHUNK])
            rpos += CHUNK
    return b"".join(parts)[:size]


def main():
    args = sys.argv[1:]
    size = DEFAULT_SIZE
    if len(args) == 3 and args[1] == "--size":
        size = int(args[2])
    elif len(args) != 1:
        sys.exit("usage: gen-input.py OUTFILE [--size BYTES]")
    data = generate(size)
    digest = hashlib.sha256(data).hexdigest()
    if size == DEFAULT_SIZE and DIGEST is not None and digest != DIGEST:
        sys.exit("gen-input.py: the input's sha256 is %s, expected %s: the generator changed "
                 "(update DIGEST if that was meant)" % (digest, DIGEST))
    tmp = args[0] + ".tmp"
    with open(tmp, "wb") as f:
        f.write(data)
    import os
    os.replace(tmp, args[0])
    print("%d %s" % (len(data), digest))


if __name__ == "__main__":
    main()
