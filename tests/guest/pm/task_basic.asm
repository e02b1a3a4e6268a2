; Hardware task switching (SDM Vol.3 chapter 7). A RAM GDT holds TSS A (main, loaded with
; LTR), TSS B (a worker task) and a task gate to B; TSS C handles #GP through an IDT task
; gate.  Checked: CALL to a TSS and IRETD with NT back (back link, NT inside the task, busy
; bits, CR0.TS, registers saved/restored through the TSSs), a second CALL through the task
; gate resuming B after its IRETD, JMP to B and JMP back (no nesting, busy bits swap), a #GP
; delivered through a task gate with the error code on the handler task's stack.
%include "pm.inc"

extern gdt, idt

%define SEL_TSS_A  0x40
%define SEL_TSS_B  0x48
%define SEL_GATE_B 0x50
%define SEL_TSS_C  0x58

section .text
bits 32

; SET_TSS_DESC gdt_entry_address, tss
%macro SET_TSS_DESC 2
        mov     edi, %1
        mov     eax, %2
        mov     word [edi], 0x67
        mov     [edi+2], ax
        shr     eax, 16
        mov     [edi+4], al
        mov     byte [edi+5], 0x89
        mov     byte [edi+6], 0
        mov     [edi+7], ah
%endmacro

; INIT_TSS tss, eip, esp: flat ring 0 task
%macro INIT_TSS 3
        mov     dword [%1 + 0x20], %2
        mov     dword [%1 + 0x24], 2
        mov     dword [%1 + 0x38], %3
        mov     dword [%1 + 0x4C], 0x08
        mov     dword [%1 + 0x48], 0x10
        mov     dword [%1 + 0x50], 0x10
        mov     dword [%1 + 0x54], 0x10
        mov     dword [%1 + 0x58], 0x10
        mov     dword [%1 + 0x5C], 0x10
%endmacro

global main
main:
        pushad
        mov     esi, gdt
        mov     edi, ram_gdt
        mov     ecx, 16
        rep movsd
        SET_TSS_DESC ram_gdt + SEL_TSS_A, tss_a
        SET_TSS_DESC ram_gdt + SEL_TSS_B, tss_b
        SET_TSS_DESC ram_gdt + SEL_TSS_C, tss_c
        mov     dword [ram_gdt + SEL_GATE_B], SEL_TSS_B << 16      ; task gate -> B
        mov     dword [ram_gdt + SEL_GATE_B + 4], 0x8500
        lgdt    [gdt_desc]
        INIT_TSS tss_b, task_b, stack_b_top
        INIT_TSS tss_c, task_c, stack_c_top
        mov     ax, SEL_TSS_A
        ltr     ax
        ; IDT vector 13: task gate -> C
        mov     dword [idt + 13*8], SEL_TSS_C << 16
        mov     dword [idt + 13*8 + 4], 0x8500
        clts

        ; ---- CALL to TSS B, which IRETs back
        mov     ebx, 0xA0A0
        mov     esi, 0x5151
        call    SEL_TSS_B:0
.ret1:
        mov     [a_ebx], ebx
        mov     [a_esi], esi
        pushfd
        pop     eax
        and     eax, 0x4000
        mov     [a_nt], eax
        mov     eax, cr0
        and     eax, 8
        mov     [a_ts], eax
        movzx   eax, byte [ram_gdt + SEL_TSS_B + 5]
        mov     [b_type_after], eax
        movzx   eax, word [tss_b]
        mov     [b_link], eax

        ; ---- CALL through the task gate: B resumes after its IRETD
        call    SEL_GATE_B:0
        ; ---- JMP to B; B JMPs back to A
        mov     dword [b_mode], 1
        jmp     SEL_TSS_B:0
.back_from_jmp:
        movzx   eax, byte [ram_gdt + SEL_TSS_A + 5]
        mov     [a_type_end], eax
        movzx   eax, byte [ram_gdt + SEL_TSS_B + 5]
        mov     [b_type_end], eax
        str     ax
        movzx   eax, ax
        mov     [tr_end], eax

        ; ---- #GP through the task gate to C (C skips the faulting MOV DS in A's TSS)
        mov     ax, 0x1238
.gp:    mov     ds, ax
        mov     ax, 0x10
        mov     ds, ax

        CHECK   [b_runs], 3, "task B entered 3 times"
        CHECK   [b_nt], 0x4000, "NT set in the called task"
        CHECK   [b_tr], SEL_TSS_B, "TR inside B"
        CHECK   [b_ebx], 0, "B's own EBX from its TSS"
        CHECK   [a_type_in_b], 0x8B, "A stays busy while nested"
        CHECK   [a_ebx], 0xA0A0, "A's EBX restored from its TSS"
        CHECK   [a_esi], 0x5151, "A's ESI restored"
        CHECK   [a_nt], 0, "NT clear back in A"
        CHECK   [a_ts], 8, "CR0.TS set by the task switch"
        CHECK   [b_type_after], 0x89, "B not busy after IRET"
        CHECK   [b_link], SEL_TSS_A, "B's back link"
        CHECK   [b_jmp_nt], 0, "no NT after JMP"
        CHECK   [a_type_in_jmp], 0x89, "A not busy while B runs after JMP"
        CHECK   [a_type_end], 0x8B, "A busy again"
        CHECK   [b_type_end], 0x89, "B available again"
        CHECK   [tr_end], SEL_TSS_A, "TR = A at the end"
        CHECK   [c_error], 0x1238, "#GP error code on C's stack"
        CHECK   [c_esp], stack_c_top, "C's ESP after popping the error code"
        CHECK   [c_a_eip], .gp, "A's saved EIP = the faulting instruction"
        PRINT   `PASS\n`
        popad
        xor     eax, eax
        ret

; Task B: one body per entry.
task_b:
        inc     dword [b_runs]
        pushfd
        pop     eax
        and     eax, 0x4000
        mov     [b_nt], eax
        str     ax
        movzx   eax, ax
        mov     [b_tr], eax
        mov     [b_ebx], ebx
        movzx   eax, byte [ram_gdt + SEL_TSS_A + 5]
        mov     [a_type_in_b], eax
        mov     ebx, 0xB0B0
        iretd
        ; resumed by the CALL through the gate
        inc     dword [b_runs]
        iretd
        ; resumed by the JMP
        inc     dword [b_runs]
        pushfd
        pop     eax
        and     eax, 0x4000
        mov     [b_jmp_nt], eax
        movzx   eax, byte [ram_gdt + SEL_TSS_A + 5]
        mov     [a_type_in_jmp], eax
        jmp     SEL_TSS_A:0
        jmp     $

; Task C: #GP handler task.
task_c:
        pop     eax
        mov     [c_error], eax
        mov     [c_esp], esp
        mov     eax, [tss_a + 0x20]
        mov     [c_a_eip], eax
        add     dword [tss_a + 0x20], 2     ; skip the 2-byte MOV DS, AX
        iretd
        jmp     $

section .data
align 8
gdt_desc:
        dw      0x5F
        dd      ram_gdt

section .bss
alignb 8
ram_gdt:    resb 0x60
tss_a:      resb 0x68
tss_b:      resb 0x68
tss_c:      resb 0x68
alignb 16
            resb 1024
stack_b_top:
            resb 1024
stack_c_top:
b_runs:     resd 1
b_nt:       resd 1
b_tr:       resd 1
b_ebx:      resd 1
b_mode:     resd 1
b_jmp_nt:   resd 1
a_type_in_b: resd 1
a_type_in_jmp: resd 1
a_ebx:      resd 1
a_esi:      resd 1
a_nt:       resd 1
a_ts:       resd 1
b_type_after: resd 1
b_link:     resd 1
a_type_end: resd 1
b_type_end: resd 1
tr_end:     resd 1
c_error:    resd 1
c_esp:      resd 1
c_a_eip:    resd 1
