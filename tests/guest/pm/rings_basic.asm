; Privilege changes (SDM Vol.3 5.8, 6.12): a RAM GDT with ring 3 code/data, a TSS and a
; call gate; IRETD from ring 0 to ring 3; INT 0x80 (DPL 3 interrupt gate) back to ring 0
; with the stack switch to TSS.SS0:ESP0 (SS, ESP, EFLAGS, CS, EIP pushed) and IRETD to
; ring 3; a far CALL through a call gate copying one parameter, RETF 4 to ring 3; a #GP
; from ring 3 (CLI, IOPL 0) delivered on the ring 0 stack with its error code; the DPL 0
; data segment left in DS by a handler becomes null on the return to ring 3.
%include "pm.inc"

extern gdt, idt

%define SEL_CODE3  0x43
%define SEL_DATA3  0x4B
%define SEL_TSS    0x50
%define SEL_GATE   0x5B

section .text
bits 32

; SET_GATE idt_or_gdt_entry_address, target, selector, attribute word (P DPL type count)
%macro SET_GATE 4
        mov     edi, %1
        mov     eax, %2
        mov     [edi], ax
        mov     word [edi+2], %3
        mov     word [edi+4], %4
        shr     eax, 16
        mov     [edi+6], ax
%endmacro

global main
main:
        pushad
        ; RAM GDT: the boot GDT's 8 entries, then ring 3 code/data, the TSS, a call gate.
        mov     esi, gdt
        mov     edi, ram_gdt
        mov     ecx, 16
        rep movsd
        mov     dword [ram_gdt + 0x40], 0x0000FFFF
        mov     dword [ram_gdt + 0x44], 0x00CFFB00      ; 0x40 code, DPL 3
        mov     dword [ram_gdt + 0x48], 0x0000FFFF
        mov     dword [ram_gdt + 0x4C], 0x00CFF300      ; 0x48 data, DPL 3
        mov     edi, ram_gdt + 0x50                     ; 0x50 32-bit TSS, limit 0x67
        mov     eax, tss
        mov     word [edi], 0x67
        mov     [edi+2], ax
        shr     eax, 16
        mov     [edi+4], al
        mov     byte [edi+5], 0x89
        mov     byte [edi+6], 0
        mov     [edi+7], ah
        SET_GATE ram_gdt + 0x58, gate_target, 0x08, 0xEC01  ; call gate DPL 3, 1 dword
        lgdt    [gdt_desc]
        mov     dword [tss + 4], stack0_top              ; ESP0
        mov     dword [tss + 8], 0x10                    ; SS0
        mov     ax, SEL_TSS
        ltr     ax
        SET_GATE idt + 0x80*8, int80, 0x08, 0xEE00        ; interrupt gate DPL 3
        SET_GATE idt + 0x81*8, int81, 0x08, 0xEE00
        SET_GATE idt + 13*8, gp_handler, 0x08, 0x8E00      ; #GP, DPL 0

        mov     [saved_esp], esp
        ; ---- IRETD to ring 3
        push    dword SEL_DATA3
        push    dword stack3_top
        pushfd
        push    dword SEL_CODE3
        push    dword ring3
        iretd

bits 32
ring3:
        mov     ax, SEL_DATA3
        mov     ds, ax
        mov     es, ax
        mov     eax, cs
        mov     [r3_cs], eax
        ; INT 0x80: to ring 0 on the TSS stack and back
        mov     ebx, 0x1111
        int     0x80
.after_int:
        mov     [ss:r3_esp_after_int], esp      ; DS is null here
        mov     eax, ds
        mov     [ss:r3_ds_after_int], eax       ; the handler loaded DS = 0x10: now null
        mov     ax, SEL_DATA3
        mov     ds, ax
        ; call gate with one parameter
        push    dword 0xCAFE0001
        call    SEL_GATE:0
.after_call:
        mov     [r3_esp_after_call], esp
        mov     eax, cs
        mov     [r3_cs_after_call], eax
        ; #GP(0) from CLI at CPL 3 with IOPL 0
.cli:   cli
        ; done: back to ring 0 for good
        int     0x81

; INT 0x80 handler (ring 0): record the stack and the frame, leave DS = 0x10, IRETD.
int80:
        mov     [ss:h_esp], esp
        mov     eax, ss
        mov     [ss:h_ss], eax
        mov     eax, [esp]
        mov     [ss:h_eip], eax
        mov     eax, [esp+4]
        mov     [ss:h_cs], eax
        mov     eax, [esp+12]
        mov     [ss:h_old_esp], eax
        mov     eax, [esp+16]
        mov     [ss:h_old_ss], eax
        mov     ax, 0x10
        mov     ds, ax
        iretd

; Call gate target (ring 0): parameter at [esp+8], caller's ESP/SS above it.
gate_target:
        mov     [ss:g_esp], esp
        mov     eax, [esp+8]
        mov     [ss:g_param], eax
        mov     eax, [esp+12]
        mov     [ss:g_old_esp], eax
        mov     eax, [esp+16]
        mov     [ss:g_old_ss], eax
        mov     eax, cs
        mov     [ss:g_cs], eax
        retf    4

; #GP from ring 3: record, skip the 1-byte CLI.
gp_handler:
        mov     eax, [esp]
        mov     [ss:gp_error], eax
        mov     eax, [esp+4]
        mov     [ss:gp_eip], eax
        mov     [ss:gp_esp], esp
        inc     dword [esp+4]
        add     esp, 4
        iretd

; Back to ring 0 for good: drop the frame, restore main's stack and segments.
int81:
        mov     ax, 0x10
        mov     ds, ax
        mov     es, ax
        mov     esp, [saved_esp]
        jmp     back

back:
        CHECK   [r3_cs], SEL_CODE3, "ring 3 CS"
        CHECK   [h_esp], stack0_top - 20, "int 0x80: ESP from TSS.ESP0"
        CHECK   [h_ss], 0x10, "int 0x80: SS from TSS.SS0"
        CHECK   [h_eip], ring3.after_int, "int 0x80: pushed EIP"
        CHECK   [h_cs], SEL_CODE3, "int 0x80: pushed CS"
        CHECK   [h_old_esp], stack3_top, "int 0x80: pushed ESP"
        CHECK   [h_old_ss], SEL_DATA3, "int 0x80: pushed SS"
        CHECK   [r3_esp_after_int], stack3_top, "ESP after IRETD to ring 3"
        CHECK   [r3_ds_after_int], 0, "DPL 0 DS nulled by IRETD to ring 3"
        CHECK   [g_esp], stack0_top - 20, "call gate: ring 0 ESP"
        CHECK   [g_param], 0xCAFE0001, "call gate: copied parameter"
        CHECK   [g_old_esp], stack3_top - 4, "call gate: pushed ESP"
        CHECK   [g_old_ss], SEL_DATA3, "call gate: pushed SS"
        CHECK   [g_cs], 0x08, "call gate: ring 0 CS"
        CHECK   [r3_esp_after_call], stack3_top, "RETF 4 released the parameter"
        CHECK   [r3_cs_after_call], SEL_CODE3, "RETF back to ring 3"
        CHECK   [gp_error], 0, "#GP error code"
        CHECK   [gp_eip], ring3.cli, "#GP pushed EIP"
        CHECK   [gp_esp], stack0_top - 24, "#GP frame on the ring 0 stack"
        PRINT   `PASS\n`
        popad
        xor     eax, eax
        ret

section .data
align 8
gdt_desc:
        dw      0x5F
        dd      ram_gdt

section .bss
alignb 8
ram_gdt:    resb 0x60
tss:        resb 0x68
alignb 16
            resb 1024
stack0_top:
            resb 1024
stack3_top:
saved_esp:  resd 1
r3_cs:      resd 1
r3_esp_after_int: resd 1
r3_ds_after_int:  resd 1
r3_esp_after_call: resd 1
r3_cs_after_call: resd 1
h_esp:      resd 1
h_ss:       resd 1
h_eip:      resd 1
h_cs:       resd 1
h_old_esp:  resd 1
h_old_ss:   resd 1
g_esp:      resd 1
g_param:    resd 1
g_old_esp:  resd 1
g_old_ss:   resd 1
g_cs:       resd 1
gp_error:   resd 1
gp_eip:     resd 1
gp_esp:     resd 1
