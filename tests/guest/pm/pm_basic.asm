; 32-bit protected mode basics, entered from the reset vector by boot.asm
; (lgdt, mov cr0, far jmp): segment state after entry, far calls into a
; 16-bit code segment and a non-flat 32-bit code segment, a data segment
; with a non-zero base, SGDT/SIDT/SMSW, LAR/LSL/VERR/VERW, and a round trip
; protected -> real -> protected mode (SDM Vol.3 9.9).
%include "pm.inc"

extern gdt, idt

section .text
bits 32
global main
main:
        push    ebx
        push    esi
        push    edi
        push    ebp

        ; ---- state after entry
        mov     eax, cr0
        and     eax, 1
        CHECK   eax, 1, "CR0.PE"
        xor     eax, eax
        mov     ax, cs
        CHECK   eax, 0x08, "cs"
        mov     ax, ds
        CHECK   eax, 0x10, "ds"
        mov     ax, ss
        CHECK   eax, 0x10, "ss"
        sgdt    [scratch]
        movzx   eax, word [scratch]
        CHECK   eax, 0x3F, "sgdt limit"
        CHECK   [scratch+2], gdt, "sgdt base"
        sidt    [scratch]
        movzx   eax, word [scratch]
        CHECK   eax, 0x7FF, "sidt limit"
        CHECK   [scratch+2], idt, "sidt base"
        smsw    eax
        and     eax, 0xFFFF
        and     eax, 1
        CHECK   eax, 1, "smsw PE"

        ; ---- far call into the 16-bit code segment (0x18, base 0xF0000)
        mov     dword [0x700], 0
        mov     eax, 0x11110000
        call    0x18:(code16 - ROMBASE)
        CHECK   eax, 0x1111ABCD, "16-bit segment result"
        CHECK   [0x700], 0x00180004, "16-bit segment stores"
        CHECK   ecx, 0x20002, "o32 in 16-bit segment"

        ; ---- far call into the 32-bit code segment 0x38 (base 0xF0000, limit 0xFFFF)
        call    0x38:(code32_based - ROMBASE)
        CHECK   eax, here32 - ROMBASE, "eip relative to cs base"
        CHECK   ebx, 0x38, "cs in based segment"

        ; ---- data segment with base 0x20000 (selector 0x28)
        mov     ax, 0x28
        mov     fs, ax
        mov     dword [fs:0x10], 0x600DF00D
        CHECK   [0x20010], 0x600DF00D, "segment base applied"
        mov     dword [0x20FFC], 0x12345678
        CHECK   [fs:0xFFC], 0x12345678, "read at limit-3"
        mov     ax, 0x10
        mov     fs, ax

        ; ---- LAR / LSL / VERR / VERW
        mov     ecx, 0x28
        lsl     eax, ecx
        CHECK   eax, 0xFFF, "lsl byte granular"
        mov     ecx, 0x08
        lsl     eax, ecx
        CHECK   eax, 0xFFFFFFFF, "lsl page granular"
        lar     eax, ecx
        and     eax, 0x00F0FF00         ; bits 19:16 are undefined (SDM LAR)
        CHECK   eax, 0x00C09B00, "lar code32"
        mov     ecx, 0x1238             ; beyond the GDT limit: ZF = 0
        mov     eax, 0x5555
        lsl     eax, ecx
        setz    al
        movzx   eax, al
        CHECK   eax, 0, "lsl bad selector ZF"
        mov     cx, 0x30
        verr    cx
        setz    al
        verw    cx
        setz    ah
        movzx   eax, ax
        CHECK   eax, 0x0001, "verr/verw read-only"
        mov     cx, 0x10
        verw    cx
        setz    al
        movzx   eax, al
        CHECK   eax, 1, "verw data"

        ; ---- protected -> real -> protected
        mov     [saved_esp], esp
        mov     dword [0x600], 0
        mov     word [0x602], 0
        jmp     0x18:(to_real - ROMBASE)
back_pm:
        mov     ax, 0x10
        mov     ds, ax
        mov     es, ax
        mov     fs, ax
        mov     gs, ax
        mov     ss, ax
        mov     esp, [saved_esp]
        movzx   eax, word [0x600]
        CHECK   eax, 0x55AA, "store in real mode"
        movzx   eax, word [0x602]
        CHECK   eax, 0xF000, "cs in real mode"
        CHECK   [0x604], 0x00020000, "real mode segment arithmetic"
        mov     eax, cr0
        and     eax, 1
        CHECK   eax, 1, "back in protected mode"

        PRINT   `PASS\n`
        xor     eax, eax
        pop     ebp
        pop     edi
        pop     esi
        pop     ebx
        ret

bits 16
code16:                                 ; 16-bit segment: 16-bit operands by default
        mov     ax, 0xABCD              ; writes AX only, EAX high half stays
        mov     bx, 0x0004
        mov     [0x700], bx             ; 16-bit address, DS = flat data
        mov     bx, cs
        mov     [0x702], bx
        o32 mov ecx, 0x10001
        o32 add ecx, ecx
        o32 retf                        ; the caller pushed a 32-bit return

bits 32
code32_based:
        call    .next
.next:
here32 equ .next
        pop     eax                     ; EIP of .next, an offset from base 0xF0000
        xor     ebx, ebx
        mov     bx, cs
        retf

bits 16
to_real:                                ; 16-bit protected mode, CS base 0xF0000
        call    .here                   ; IP in this segment == IP in real-mode F000
.here:  pop     bx
        add     bx, in_real - .here
        mov     ax, 0x20                ; 16-bit data segments, base 0, limit 0xFFFF
        mov     ds, ax
        mov     es, ax
        mov     fs, ax
        mov     gs, ax
        mov     ss, ax
        mov     [0x710], bx
        mov     word [0x712], 0xF000
        mov     eax, cr0
        and     al, 0xFE
        mov     cr0, eax
        jmp     far [0x710]             ; reload CS in real mode: F000:in_real
in_real:
        xor     ax, ax
        mov     ds, ax
        mov     word [0x600], 0x55AA
        mov     ax, cs
        mov     [0x602], ax
        mov     ax, 0x0060              ; 0060:0004 = physical 0x604
        mov     es, ax
        mov     dword [es:0x0004], 0x00020000
        mov     eax, cr0
        or      al, 1
        mov     cr0, eax
        jmp     dword 0x08:back_pm

section .bss
alignb 4
scratch:   resd 4
saved_esp: resd 1
