; x87 basics: exact results of arithmetic (SDM Vol.1 8), an unmasked
; exception reported as #MF at the next waiting instruction with CR0.NE = 1
; (Vol.1 8.6), and spot checks of the 32-bit protected-mode FSAVE image
; (Vol.1 8.1.10, figure 8-9).
%include "pm.inc"

section .text
bits 32

global main
main:
        push    ebx
        mov     eax, cr0
        and     eax, ~0x0C              ; EM = TS = 0
        or      eax, 0x22               ; MP, NE
        mov     cr0, eax
        fninit

        ; 3 * 4 = 12; 2.5 + 0.25 = 2.75; sqrt(2) rounded to double
        fld     dword [three]
        fmul    dword [four]
        fistp   dword [res_i]
        CHECK   [res_i], 12, "3 * 4"
        fld     qword [two_half]
        fadd    qword [quarter]
        fstp    qword [res_d]
        CHECK   [res_d+4], 0x40060000, "2.5 + 0.25 high"
        CHECK   [res_d], 0, "2.5 + 0.25 low"
        fld     qword [two]
        fsqrt
        fstp    qword [res_d]
        CHECK   [res_d+4], 0x3FF6A09E, "sqrt(2) high"
        CHECK   [res_d], 0x667F3BCD, "sqrt(2) low"
        fld1
        fld     dword [three]
        fdivp   st1, st0                ; 1/3
        fmul    dword [three]           ; back to 1 after rounding to nearest
        fld1
        fcompp
        fnstsw  ax
        and     eax, 0x4500             ; C3 C2 C0: equal is C3 only
        CHECK   eax, 0x4000, "1/3*3 == 1"

        ; ---- unmasked zero divide -> #MF at the next waiting instruction
        push    dword catcher
        push    dword 16
        call    set_trap_handler
        add     esp, 8
        mov     dword [got_vector], -1
        mov     dword [got_eip], -1
        fldcw   [cw_ze]
        fld1
        fldz
        fdivp   st1, st0                ; ZE set, ES set: nothing raised yet
        fnstsw  ax
        and     eax, 0x0084             ; ES, ZE
        CHECK   eax, 0x84, "ES and ZE after 1/0"
.wait:  fwait
        jmp     .after                  ; not reached: the catcher resumes at .after
.after: CHECK   [got_vector], 16, "#MF vector"
        CHECK   [got_eip], .wait, "#MF at the waiting instruction"
        fnclex

        ; ---- FSAVE image: CW, SW.TOP, tags, ST0 = 1.0, then FNINIT state
        fninit
        fld1
        fsave   [image]
        movzx   eax, word [image+0]
        CHECK   eax, 0x037F, "FSAVE control word"
        movzx   eax, word [image+4]
        and     eax, 0x3800
        CHECK   eax, 0x3800, "FSAVE TOP = 7"
        movzx   eax, word [image+8]
        CHECK   eax, 0x3FFF, "FSAVE tag word (R7 valid)"
        CHECK   [image+28], 0, "ST0 significand low"
        CHECK   [image+32], 0x80000000, "ST0 significand high"
        movzx   eax, word [image+36]
        CHECK   eax, 0x3FFF, "ST0 exponent"
        fnstcw  [res_i]
        movzx   eax, word [res_i]
        CHECK   eax, 0x037F, "FSAVE reinitialises"

        xor     eax, eax
        pop     ebx
        ret

; void catcher(struct trap_frame *f): record vector and EIP, resume at .after
catcher:
        mov     eax, [esp+4]
        mov     ecx, [eax+32]
        mov     [got_vector], ecx
        mov     ecx, [eax+40]
        mov     [got_eip], ecx
        mov     dword [eax+40], main.after
        fnclex
        ret

section .data
align 8
two_half:       dq      2.5
quarter:        dq      0.25
two:            dq      2.0
three:          dd      3.0
four:           dd      4.0
cw_ze:          dw      0x037B

section .bss
alignb 8
res_d:          resq    1
res_i:          resd    1
got_vector:     resd    1
got_eip:        resd    1
image:          resb    108
