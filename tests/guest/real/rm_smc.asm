; Real mode self-modifying code: store instruction bytes to RAM and execute
; them; re-patch code that has already run (immediates and opcodes, through
; the same and through an aliasing segment); modify the instruction right
; after the store inside the same straight-line run, and code in a running
; loop.  On P6-class CPUs a store to code that is about to execute is seen by
; that execution (SDM Vol.3 11.6 "Self-Modifying Code").
%include "rm.inc"

%define CODE_SEG 0x2000                 ; blob copied to 2000:0000 (phys 0x20000)

start:
        ; ---- 1. write "mov ax, 0x1234 ; retf" as data and call it
        mov     ax, 0x3000
        mov     fs, ax
        mov     dword [fs:0], 0xCB1234B8
        call    0x3000:0
        CHECK16 ax, 0x1234, "execute stored bytes"
        mov     byte [fs:1], 0x78       ; -> mov ax, 0x1278
        call    0x3000:0
        CHECK16 ax, 0x1278, "re-patched immediate"

        ; ---- copy the blob to CODE_SEG:0
        mov     ax, CODE_SEG
        mov     es, ax
        mov     gs, ax
        mov     si, blob_start
        xor     di, di
        mov     cx, blob_end - blob_start
        rep movsb
        mov     ax, SCRATCH_SEG
        mov     es, ax

        ; ---- 2. patch the immediate between calls, ten times
        xor     dx, dx
        xor     bx, bx
.l:     mov     [gs:ret_imm - blob_start + 1], bx
        call    CODE_SEG:(ret_imm - blob_start)
        add     dx, ax
        inc     bx
        cmp     bx, 10
        jb      .l
        CHECK16 dx, 45, "patched immediate loop"

        ; ---- 3. opcode patch: inc ax (40) -> dec ax (48)
        mov     ax, 100
        call    CODE_SEG:(incdec - blob_start)
        CHECK16 ax, 101, "before opcode patch"
        mov     byte [gs:incdec - blob_start], 0x48
        mov     ax, 100
        call    CODE_SEG:(incdec - blob_start)
        CHECK16 ax, 99, "after opcode patch"

        ; ---- 4. patch through an aliasing segment (1F00:1000+x == 2000:x)
        mov     ax, CODE_SEG - 0x100
        mov     fs, ax
        mov     byte [fs:0x1000 + incdec - blob_start], 0x40
        mov     ax, 100
        call    CODE_SEG:(incdec - blob_start)
        CHECK16 ax, 101, "patch through alias segment"

        ; ---- 5. store to the very next instruction
        call    CODE_SEG:(next_insn - blob_start)
        CHECK8  al, 0x42, "store to next instruction"
        ; and once more after it has run (it is now cached with 0x42)
        mov     byte [gs:next_insn_imm - blob_start], 0x99
        call    CODE_SEG:(next_insn - blob_start)
        CHECK8  al, 0x42, "store to next instruction again"

        ; ---- 6. a loop that rewrites its own add immediate every iteration
        call    CODE_SEG:(self_loop - blob_start)
        CHECK16 ax, 5+4+3+2+1, "self-modifying loop"

        ; ---- 7. ROM code is not writable: a write to ROM is dropped
        push    ds
        mov     ax, 0xF000
        mov     ds, ax
        mov     byte [rom_byte], 0x00
        pop     ds
        CHECK8  [cs:rom_byte], 0x5A, "ROM write ignored"

        jmp     pass

rom_byte: db 0x5A

; ---- position-independent code copied to CODE_SEG:0 (offsets relative to blob_start)
blob_start:
ret_imm:
        mov     ax, 0xFFFF
        retf
incdec:
        inc     ax
        retf
next_insn:
        mov     byte [cs:next_insn_imm - blob_start], 0x42
next_insn_op:
        mov     al, 0x00
next_insn_imm equ next_insn_op + 1
        retf
self_loop:
        mov     cx, 5
        xor     ax, ax
.l:     mov     [cs:.add + 1 - blob_start], cl
.add:   add     al, 0
        loop    .l
        retf
blob_end:

        ROM_END
