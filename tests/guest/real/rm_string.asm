; Real mode: string instructions with REP/REPE/REPNE, both directions,
; segment overrides on the source, CX = 0, and 16-bit SI/DI wraparound.
%include "rm.inc"

start:
        ; rep movsb ROM -> RAM (DS = 0xF000 source, ES = 0x1000 destination)
        mov     si, text
        xor     di, di
        mov     cx, text_len
        rep movsb
        CHECK16 cx, 0, "movsb cx"
        CHECK16 si, text + text_len, "movsb si"
        CHECK16 di, text_len, "movsb di"
        CHECK32 [es:0], 'The ', "movsb data"
        CHECK8  [es:text_len-1], '!', "movsb last"

        ; CS override on the source while DS points elsewhere
        mov     ax, 0x3000
        mov     ds, ax
        mov     si, text
        mov     di, 0x100
        mov     cx, text_len / 2
        rep cs movsw
        mov     ax, cs
        mov     ds, ax
        CHECK32 [es:0x100], 'The ', "cs: movsw"
        CHECK16 di, 0x100 + (text_len / 2) * 2, "cs: movsw di"

        ; compare the copies: repe cmpsb over equal data runs to CX = 0
        push    ds
        push    es
        pop     ds
        xor     si, si
        mov     di, 0x100
        mov     cx, 16
        repe cmpsb
        FLAGS_IS F_ZF, F_ZF, "repe cmpsb equal ZF"
        CHECK16 cx, 0, "repe cmpsb equal cx"
        pop     ds

        ; repe cmpsb stops after the first mismatch
        mov     byte [es:0x105], 'X'    ; 'The qXick'
        push    ds
        push    es
        pop     ds
        mov     si, 0x100
        xor     di, di
        mov     cx, 16
        repe cmpsb
        pop     ds
        FLAGS_IS F_ZF, 0, "repe cmpsb mismatch ZF"
        CHECK16 cx, 10, "repe cmpsb mismatch cx"
        CHECK16 si, 0x106, "repe cmpsb mismatch si"

        ; repne scasb finds a byte
        xor     di, di
        mov     al, 'q'
        mov     cx, 100
        repne scasb
        FLAGS_IS F_ZF, F_ZF, "repne scasb ZF"
        CHECK16 di, 5, "repne scasb di"
        CHECK16 cx, 95, "repne scasb cx"

        ; rep stosw fill, then scasw over it
        mov     di, 0x200
        mov     ax, 0xA55A
        mov     cx, 64
        rep stosw
        CHECK16 di, 0x280, "stosw di"
        CHECK16 [es:0x27E], 0xA55A, "stosw data"
        mov     di, 0x200
        mov     cx, 64
        repe scasw
        CHECK16 cx, 0, "repe scasw cx"

        ; CX = 0: nothing moves, registers unchanged
        mov     si, text
        mov     di, 0x300
        mov     byte [es:0x300], 0x77
        xor     cx, cx
        rep movsb
        CHECK16 si, text, "rep cx=0 si"
        CHECK16 di, 0x300, "rep cx=0 di"
        CHECK8  [es:0x300], 0x77, "rep cx=0 data"

        ; backwards overlapping move (memmove to higher address) with DF = 1
        push    ds
        push    es
        pop     ds
        mov     dword [0x400], 0x44332211
        mov     dword [0x404], 0x88776655
        mov     si, 0x407
        mov     di, 0x409
        mov     cx, 8
        std
        rep movsb
        cld
        pop     ds
        CHECK16 si, 0x3FF, "std movsb si"
        CHECK32 [es:0x402], 0x44332211, "std movsb data lo"
        CHECK32 [es:0x406], 0x88776655, "std movsb data hi"

        ; lodsw through an FS override, stosb through ES (cannot be overridden)
        mov     ax, SCRATCH_SEG
        mov     fs, ax
        mov     si, 0x402
        fs lodsw
        CHECK16 ax, 0x2211, "fs: lodsw"
        CHECK16 si, 0x404, "fs: lodsw si"

        ; 16-bit SI wraps at 64 KiB: source FFFF then 0000
        mov     byte [es:0xFFFF], 0xAB
        mov     byte [es:0x0000], 0xCD
        push    ds
        push    es
        pop     ds
        mov     si, 0xFFFF
        mov     di, 0x500
        mov     cx, 2
        rep movsb
        pop     ds
        CHECK16 si, 0x0001, "si wrap"
        CHECK16 [es:0x500], 0xCDAB, "si wrap data"

        ; movsd (66 prefix) and insb-free outsb: debugcon gets "ok\n"
        mov     si, text
        mov     di, 0x600
        mov     cx, 2
        rep movsd
        CHECK32 [es:0x604], 'quic', "movsd"
        mov     si, oktext
        mov     dx, DEBUGCON
        mov     cx, 3
        rep outsb
        CHECK16 si, oktext + 3, "outsb si"

        jmp     pass

text:   db "The quick brown fox jumps over the lazy dog!"
text_len equ $ - text
oktext: db "ok", 10

        ROM_END
