; NOP forms a P6-class CPU executes without effect: 90, 66 90, the
; multi-byte NOP 0F 1F /0 (SDM Vol.2 "NOP") and ENDBR32 (F3 0F 1E FB), which
; processors without CET execute as a NOP (SDM Vol.2 "ENDBR32"; it sits in
; the 0F 1E hint-NOP space).  Distribution-built libgcc puts ENDBR32 at the
; top of every function, so C guests linked with it depend on this.
%include "pm.inc"

section .text
bits 32
global main
main:
        push    ebx
        mov     eax, 0x11111111
        mov     ebx, 0x22222222
        nop
        db      0x66, 0x90                          ; 66 90
        db      0x0F, 0x1F, 0x00                    ; nop dword [eax]
        db      0x0F, 0x1F, 0x40, 0x00              ; nop dword [eax+0]
        db      0x0F, 0x1F, 0x44, 0x00, 0x00        ; nop dword [eax+eax+0]
        db      0x66, 0x0F, 0x1F, 0x44, 0x00, 0x00  ; nop word [eax+eax+0]
        db      0x0F, 0x1F, 0x80, 0, 0, 0, 0        ; nop dword [eax+0]  (disp32)
        db      0x0F, 0x1F, 0x84, 0x00, 0, 0, 0, 0  ; nop dword [eax+eax+0]
        CHECK   eax, 0x11111111, "eax after 0F 1F nops"
        CHECK   ebx, 0x22222222, "ebx after 0F 1F nops"
        mov     ecx, 0x33333333
        stc
        db      0xF3, 0x0F, 0x1E, 0xFB              ; endbr32
        setc    dl
        movzx   edx, dl
        CHECK   edx, 1, "CF after endbr32"
        CHECK   ecx, 0x33333333, "ecx after endbr32"
        PRINT   `PASS\n`
        xor     eax, eax
        pop     ebx
        ret
