; The guest the real-gdb test (tests/tools/gdb_test.py) debugs: a 64 KiB raw ROM at 0xF0000
; (nasm -f bin) that starts at the reset vector in real mode, enters flat 32-bit protected
; mode and exits through the isa-debug-exit port 0xF4 with a status that depends on what the
; debugger wrote. The places the test names sit at fixed offsets (see the `times` lines):
;   0xF0100  rm_break   real mode, `mov bx, 0x5678` (3 bytes), then EAX is stored to 0x2004
;   0xF0210  pm_break   protected mode, CS base 0, EIP = 0xF0210; stores 0x12345678 to 0x2000
;   0xF0300  signature  the bytes "GDB!"
; Exit: if dword [0x2004] == 0x1234 (the debugger set EAX at rm_break) the guest writes
; byte [0x3000] (the debugger writes it) to port 0xF4, else 0x7F.
; Run without a debugger it exits with 0x7F (status 255).

bits 16
org 0
cpu 686

%define ROM_BASE 0xF0000

start:
        cli
        xor     ax, ax
        mov     ds, ax
        mov     ss, ax
        mov     sp, 0x7000
        mov     eax, 0x11111111
        jmp     rm_break

        times 0x100 - ($ - $$) db 0x90
rm_break:
        mov     bx, 0x5678
        mov     [0x2004], eax
        lgdt    [cs:gdt_desc]
        mov     eax, cr0
        or      al, 1                   ; CR0.PE
        mov     cr0, eax
        jmp     dword 0x08:ROM_BASE + pm_entry

bits 32
pm_entry:
        mov     ax, 0x10
        mov     ds, ax
        mov     es, ax
        mov     ss, ax
        mov     esp, 0x7000
        jmp     pm_break                ; relative: right whatever the origin

        times 0x210 - ($ - $$) db 0x90
pm_break:
        mov     dword [0x2000], 0x12345678
        mov     al, 0x7F
        cmp     dword [0x2004], 0x1234
        jne     .out
        mov     al, [0x3000]
.out:   out     0xF4, al
        cli
        hlt
        jmp     $

        align 8
gdt:    dq      0
        dq      0x00CF9A000000FFFF      ; 0x08: flat 32-bit code
        dq      0x00CF92000000FFFF      ; 0x10: flat data
gdt_desc:
        dw      gdt_desc - gdt - 1
        dd      ROM_BASE + gdt

        times 0x300 - ($ - $$) db 0
signature:
        db      'GDB!'

        times 0xFFF0 - ($ - $$) db 0
bits 16
reset_vector:
        jmp     0xF000:start
        times 0x10000 - ($ - $$) db 0
