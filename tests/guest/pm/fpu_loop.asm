; An x87 loop in the shape compiled Lua 5.4 on i386 runs (loads, arithmetic with memory
; operands, stores of doubles, a compare through FNSTSW/SAHF), long enough to be compiled
; (--jit on) and to weigh the x87 path per instruction (docs/design.md, "Measured (tier 1)",
; x87). Every value is an integer or a half, exact in a double, so the result is known:
; acc = 3 * (1 + 2 + ... + N) (SDM vol.1 8: FILD, FMUL, FADD, FSTP, FLD, FCOMPP, FNSTSW).
%include "pm.inc"

N       equ     100000

section .text
bits 32

global main
main:
        fninit                          ; CR0.EM = TS = 0 since reset: no #NM
        mov     dword [i], 1
.loop:
        fild    dword [i]
        fmul    qword [three]
        fadd    qword [acc]
        fstp    qword [acc]             ; acc += 3 * i
        fld     qword [acc]
        fmul    qword [half]
        fstp    qword [tmp]             ; tmp = acc / 2
        fld     qword [tmp]
        fld     qword [acc]
        fcompp                          ; acc against tmp, both popped
        fnstsw  ax
        sahf
        jbe     .bad                    ; acc > tmp: CF = ZF = 0
        inc     dword [i]
        cmp     dword [i], N
        jbe     .loop
        CHECK   [acc], 0xFF800000, "acc low"
        CHECK   [acc+4], 0x420BF0A0, "acc high"
        CHECK   [tmp], 0xFF800000, "tmp low"
        CHECK   [tmp+4], 0x41FBF0A0, "tmp high"
        fnstsw  ax
        and     eax, 0x3800
        CHECK   eax, 0, "stack empty (TOP 0)"
        xor     eax, eax
        ret
.bad:
        CHECK   [i], -1, "acc > tmp in every iteration"
        xor     eax, eax
        ret

section .data
align 8
three:          dq      3.0
half:           dq      0.5
acc:            dq      0.0

section .bss
alignb 8
tmp:            resq    1
i:              resd    1
