; Real mode: INT n / INT3 / INTO through an IVT we fill in, IRET, #DE from
; DIV/IDIV delivered through vector 0 with the faulting IP pushed (SDM Vol.3
; 20.1.4: real-mode exceptions use the IVT; #DE is a fault), far CALL/RET
; (incl. RETF imm16 and an indirect far call through memory), and stack
; instructions (PUSHA/POPA, PUSHF/POPF, PUSH SP, ENTER/LEAVE, push/pop mem).
%include "rm.inc"

start:
        ; ---- INT 0x40: handler sees FLAGS, CS, IP on the stack; IRET restores flags
        SET_IVT 0x40, int40_handler
        mov     word [es:0], 0
        mov     ax, 0x1234
        stc
int40_site:
        int     0x40
int40_ret:
        FLAGS_IS F_CF, F_CF, "iret restores CF"
        CHECK16 ax, 0x1235, "int 0x40 handler ran"
        CHECK16 [es:0], int40_ret, "int pushed ip"
        CHECK16 [es:2], 0xF000, "int pushed cs"
        CHECK16 [es:4], 0x0001, "int pushed CF"
        CHECK16 [es:6], 0, "int handler IF"
        CHECK16 sp, 0x7000, "sp after iret"

        ; ---- INT3 (CC) and INTO (CE) with OF set
        SET_IVT 3, int3_handler
        SET_IVT 4, into_handler
        xor     bx, bx
        int3
        CHECK16 bx, 3, "int3"
        mov     al, 0x7F
        add     al, 1                   ; OF = 1
        into
        CHECK16 bx, 4, "into taken"
        xor     al, al                  ; OF = 0
        into
        CHECK16 bx, 4, "into not taken"

        ; ---- #DE: divide by zero.  The pushed IP points at the DIV; the handler
        ; records it and resumes at the address in [es:0x10].
        SET_IVT 0, de_handler
        mov     word [es:0x10], de1_resume
        mov     word [es:0x12], 0
        xor     dx, dx
        mov     ax, 100
        xor     bx, bx
de1_site:
        div     bx
        mov     word [es:0x14], 0xBAD   ; must be skipped
de1_resume:
        CHECK16 [es:0x12], de1_site, "#DE div0 pushed ip"
        CHECK16 ax, 100, "#DE leaves ax"
        CHECK16 dx, 0, "#DE leaves dx"

        ; divide overflow: 0x100000 / 1 does not fit 16 bits
        mov     word [es:0x10], de2_resume
        mov     dx, 0x10
        xor     ax, ax
        mov     cx, 1
de2_site:
        div     cx
de2_resume:
        CHECK16 [es:0x12], de2_site, "#DE overflow pushed ip"

        ; IDIV -128 / -1 in 8 bits overflows
        mov     word [es:0x10], de3_resume
        mov     ax, -128
        mov     bl, -1
de3_site:
        idiv    bl
de3_resume:
        CHECK16 [es:0x12], de3_site, "#DE idiv8 pushed ip"
        CHECK16 [es:0x14], 0, "#DE skipped instruction"

        ; ---- far call/ret
        xor     ax, ax
        call    0xF000:far_fn
        CHECK16 ax, 0xF000, "far call cs"
        ; same routine through an alias segment: F100:(far_fn-0x1000)
        call    0xEF00:(far_fn + 0x1000)
        CHECK16 ax, 0xEF00, "far call alias cs"
        ; indirect far call through a pointer in RAM
        mov     word [es:0x20], far_fn
        mov     word [es:0x22], 0xF000
        call    far [es:0x20]
        CHECK16 ax, 0xF000, "far call mem"
        ; retf 4 drops two pushed parameters
        push    word 7
        push    word 5
        call    0xF000:far_sub
        CHECK16 ax, 2, "retf imm result"
        CHECK16 sp, 0x7000, "retf imm sp"
        ; far jmp through memory
        mov     word [es:0x24], jmp_target
        mov     word [es:0x26], 0xF000
        jmp     far [es:0x24]
        jmp     fail_jmp
jmp_target:

        ; ---- stack ops
        mov     ax, 1
        mov     cx, 2
        mov     dx, 3
        mov     bx, 4
        mov     bp, 6
        mov     si, 7
        mov     di, 8
        pusha
        CHECK16 sp, 0x7000 - 16, "pusha sp"
        mov     bp, sp
        CHECK16 [ss:bp+14], 1, "pusha ax slot"
        CHECK16 [ss:bp+6], 0x7000, "pusha sp slot"
        CHECK16 [ss:bp], 8, "pusha di slot"
        xor     ax, ax
        xor     cx, cx
        xor     bx, bx
        xor     di, di
        mov     word [ss:bp+6], 0x1234  ; popa ignores the SP slot
        popa
        CHECK16 sp, 0x7000, "popa sp"
        CHECK16 ax, 1, "popa ax"
        CHECK16 bx, 4, "popa bx"
        CHECK16 di, 8, "popa di"
        CHECK16 bp, 6, "popa bp"

        push    sp                      ; 286+: pushes SP as it was before the push
        pop     ax
        CHECK16 ax, 0x7000, "push sp"

        mov     word [es:0x30], 0xBEEF
        push    word [es:0x30]
        pop     word [es:0x32]
        CHECK16 [es:0x32], 0xBEEF, "push/pop mem"
        push    word -2                 ; 6A FE sign-extended
        pop     ax
        CHECK16 ax, 0xFFFE, "push imm8"

        mov     ax, 0x08D5 | 0x0002     ; all arith flags set
        push    ax
        popf
        pushf
        pop     ax
        CHECK16 ax, 0x08D7, "popf/pushf" ; IF=0 DF=0 TF=0, bit 1 reads 1
        push    word 0
        popf

        mov     bp, 0x5555
        enter   8, 0
        CHECK16 sp, 0x7000 - 2 - 8, "enter sp"
        CHECK16 bp, 0x7000 - 2, "enter bp"
        CHECK16 [ss:bp], 0x5555, "enter saved bp"
        leave
        CHECK16 sp, 0x7000, "leave sp"
        CHECK16 bp, 0x5555, "leave bp"

        ; near call/ret with ret imm
        push    word 1
        call    near_fn
        CHECK16 sp, 0x7000, "ret imm sp"
        CHECK16 ax, 0x4242, "near call"

        jmp     pass

fail_jmp:
        mov     si, msg_jmp
        call    puts
        mov     al, 0x7D
        jmp     exit_al
msg_jmp: db "FAIL far jmp through memory fell through", 10, 0

near_fn:
        mov     ax, 0x4242
        ret     2

far_fn:
        mov     ax, cs
        retf

far_sub:                                ; ([sp+4] = 5, [sp+6] = 7) -> ax = 7 - 5
        push    bp
        mov     bp, sp
        mov     ax, [ss:bp+8]
        sub     ax, [ss:bp+6]
        pop     bp
        retf    4

int40_handler:
        push    bp
        mov     bp, sp
        push    bx
        mov     bx, [ss:bp+2]           ; IP
        mov     [es:0], bx
        mov     bx, [ss:bp+4]           ; CS
        mov     [es:2], bx
        mov     bx, [ss:bp+6]           ; FLAGS
        and     bx, F_CF
        mov     [es:4], bx
        pushf
        pop     bx
        and     bx, 0x0200              ; IF cleared by INT
        mov     [es:6], bx
        inc     ax
        clc                             ; IRET restores the caller's CF
        pop     bx
        pop     bp
        iret

int3_handler:
        mov     bx, 3
        iret

into_handler:
        mov     bx, 4
        iret

de_handler:
        push    bp
        mov     bp, sp
        push    ax
        mov     ax, [ss:bp+2]
        mov     [es:0x12], ax           ; faulting IP
        mov     ax, [es:0x10]
        mov     [ss:bp+2], ax           ; resume there
        pop     ax
        pop     bp
        iret

        ROM_END
