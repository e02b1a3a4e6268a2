; Real mode: integer arithmetic, logic, shifts, BCD, multiply/divide and the
; flags they leave (SDM Vol.1 3.4.3, Vol.2 instruction pages).
%include "rm.inc"

start:
        ; ADD: 0x7FFF + 1 = 0x8000, OF SF AF PF (low byte 0x00 has even parity)
        mov     ax, 0x7FFF
        add     ax, 1
        FLAGS_IS F_ARITH, F_OF|F_SF|F_AF|F_PF, "add 7fff+1 flags"
        CHECK16 ax, 0x8000, "add 7fff+1"

        ; SUB: 0 - 1 = 0xFFFF, CF SF AF PF
        xor     ax, ax
        sub     ax, 1
        FLAGS_IS F_ARITH, F_CF|F_SF|F_AF|F_PF, "sub 0-1 flags"
        CHECK16 ax, 0xFFFF, "sub 0-1"

        ; 8-bit add producing carry and zero: 0x80 + 0x80
        mov     bl, 0x80
        add     bl, 0x80
        FLAGS_IS F_ARITH, F_CF|F_ZF|F_OF|F_PF, "add8 80+80 flags"

        ; ADC/SBB 32-bit arithmetic with 16-bit halves: 0x0001FFFF + 0x00020001
        mov     ax, 0xFFFF
        mov     dx, 0x0001
        add     ax, 0x0001
        adc     dx, 0x0002
        CHECK16 ax, 0x0000, "adc low"
        CHECK16 dx, 0x0004, "adc high"
        mov     ax, 0x0000
        mov     dx, 0x0004
        sub     ax, 0x0001
        sbb     dx, 0x0002
        CHECK16 ax, 0xFFFF, "sbb low"
        CHECK16 dx, 0x0001, "sbb high"

        ; INC/DEC leave CF alone
        stc
        mov     cx, 0xFFFF
        inc     cx
        FLAGS_IS F_CF|F_ZF, F_CF|F_ZF, "inc keeps CF"
        clc
        dec     cx
        FLAGS_IS F_CF|F_SF|F_ZF, F_SF, "dec keeps CF"

        ; NEG: CF = (operand != 0)
        mov     ax, 5
        neg     ax
        FLAGS_IS F_CF|F_SF, F_CF|F_SF, "neg flags"
        CHECK16 ax, 0xFFFB, "neg"
        xor     ax, ax
        neg     ax
        FLAGS_IS F_CF|F_ZF, F_ZF, "neg 0 flags"

        ; logic clears CF and OF
        stc
        mov     ax, 0xF0F0
        and     ax, 0x0FF0
        FLAGS_IS F_CF|F_OF|F_ZF|F_SF, 0, "and flags"
        CHECK16 ax, 0x00F0, "and"
        or      ax, 0x8001
        CHECK16 ax, 0x80F1, "or"
        xor     ax, 0xFFFF
        CHECK16 ax, 0x7F0E, "xor"
        not     ax
        CHECK16 ax, 0x80F1, "not"
        test    ax, 0x8000
        FLAGS_IS F_ZF|F_SF, F_SF, "test flags"

        ; MUL / IMUL
        mov     ax, 0x1234
        mov     bx, 0x0100
        mul     bx
        FLAGS_IS F_CF|F_OF, F_CF|F_OF, "mul16 CF/OF"
        CHECK16 ax, 0x3400, "mul16 lo"
        CHECK16 dx, 0x0012, "mul16 hi"
        mov     al, 15
        mov     cl, 17
        mul     cl
        FLAGS_IS F_CF|F_OF, 0, "mul8 CF/OF"
        CHECK16 ax, 255, "mul8"
        mov     ax, -3
        mov     cx, 7
        imul    cx
        FLAGS_IS F_CF|F_OF, 0, "imul16 CF/OF"
        CHECK16 ax, 0xFFEB, "imul16 lo"
        CHECK16 dx, 0xFFFF, "imul16 hi"
        mov     bx, 300
        imul    ax, bx, -200            ; 186+ three-operand form
        FLAGS_IS F_CF|F_OF, F_CF|F_OF, "imul3 overflow"
        CHECK16 ax, 0x15A0, "imul3"     ; -60000 truncated to 16 bits = 0x15A0

        ; DIV / IDIV
        mov     dx, 0x0001
        xor     ax, ax
        mov     bx, 0x0010
        div     bx
        CHECK16 ax, 0x1000, "div16 q"
        CHECK16 dx, 0, "div16 r"
        mov     ax, 1000
        mov     bl, 7
        div     bl
        CHECK16 ax, (1000 % 7) * 256 + 1000 / 7, "div8"
        mov     ax, -100
        cwd
        CHECK16 dx, 0xFFFF, "cwd"
        mov     bx, 7
        idiv    bx
        CHECK16 ax, -14 & 0xFFFF, "idiv16 q"
        CHECK16 dx, -2 & 0xFFFF, "idiv16 r"
        mov     ax, -7
        mov     bl, 2
        idiv    bl
        CHECK16 ax, 0xFFFD, "idiv8"     ; al = -3, ah = -1

        ; shifts and rotates
        mov     ax, 0x8001
        shl     ax, 1
        FLAGS_IS F_CF|F_OF, F_CF|F_OF, "shl1 flags"
        CHECK16 ax, 0x0002, "shl1"
        mov     ax, 0x8000
        mov     cl, 3
        sar     ax, cl
        CHECK16 ax, 0xF000, "sar"
        mov     ax, 0x00F1
        shr     ax, 4
        FLAGS_IS F_CF, 0, "shr CF"
        CHECK16 ax, 0x000F, "shr imm"
        mov     ax, 0x1234
        rol     ax, 4
        CHECK16 ax, 0x2341, "rol"
        ror     ax, 8
        CHECK16 ax, 0x4123, "ror"
        stc
        mov     al, 0x80
        rcl     al, 1
        FLAGS_IS F_CF, F_CF, "rcl CF"
        CHECK8  al, 0x01, "rcl"
        clc
        rcr     al, 1
        FLAGS_IS F_CF, F_CF, "rcr CF"
        CHECK8  al, 0x00, "rcr"
        mov     ax, 0xFFFF
        mov     cl, 32                  ; counts are masked to 5 bits: shift by 0
        shl     ax, cl
        CHECK16 ax, 0xFFFF, "shl count mask"

        ; BCD
        mov     al, 0x19
        add     al, 0x28
        daa
        CHECK8  al, 0x47, "daa"
        mov     al, 0x47
        sub     al, 0x19
        das
        CHECK8  al, 0x28, "das"
        mov     ax, 0x0009
        add     al, 3
        aaa
        CHECK16 ax, 0x0102, "aaa"
        mov     ax, 0x0305
        aad
        CHECK16 ax, 35, "aad"
        mov     al, 35
        aam
        CHECK16 ax, 0x0305, "aam"

        ; conditional jumps on signed vs unsigned compares
        mov     ax, -1
        mov     bx, 0
        cmp     ax, 1
        jl      .lt
        or      bx, 1
.lt:    cmp     ax, 1
        jb      .b
        or      bx, 2
.b:     cmp     ax, 1
        jg      .g
        or      bx, 4
.g:     cmp     ax, 1
        ja      .a
        or      bx, 8
.a:     CHECK16 bx, 2|4, "signed/unsigned jcc"

        ; SETcc, BT/BTS, BSF/BSR, MOVZX/MOVSX (386+ in real mode)
        mov     ax, 5
        cmp     ax, 7
        setl    cl
        setg    ch
        CHECK16 cx, 0x0001, "setcc"
        mov     ax, 0x0100
        bt      ax, 8
        FLAGS_IS F_CF, F_CF, "bt"
        bts     ax, 3
        CHECK16 ax, 0x0108, "bts"
        bsf     cx, ax
        CHECK16 cx, 3, "bsf"
        bsr     cx, ax
        CHECK16 cx, 8, "bsr"
        mov     bl, 0x90
        movsx   ax, bl
        CHECK16 ax, 0xFF90, "movsx"
        movzx   ax, bl
        CHECK16 ax, 0x0090, "movzx"

        ; CBW, XCHG, LEA, XLAT, LOOP
        mov     al, 0x85
        cbw
        CHECK16 ax, 0xFF85, "cbw"
        mov     bx, 0x1111
        mov     cx, 0x2222
        xchg    bx, cx
        CHECK16 bx, 0x2222, "xchg"
        mov     bx, 0x100
        mov     si, 0x20
        lea     di, [bx+si+0x7FFF]
        CHECK16 di, 0x811F, "lea"
        mov     bx, hexdigits
        mov     al, 12
        xlatb                           ; ds:[bx+al], DS = ROM
        CHECK8  al, 'c', "xlat"
        xor     ax, ax
        mov     cx, 10
.lp:    add     ax, cx
        loop    .lp
        CHECK16 ax, 55, "loop sum"

        jmp     pass

hexdigits: db "0123456789abcdef"

        ROM_END
