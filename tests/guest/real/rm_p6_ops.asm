; Real mode: opcodes a P6 executes that assemblers rarely emit (issue 9): SALC (D6,
; undocumented: AL = CF ? FF : 00, flags kept), the 82 alias of 80, the /6 alias of SHL in
; the shift groups C0/C1/D0-D3, the /1 alias of TEST in F6/F7, INT1 (F1, through IVT
; vector 1), RDPMC in real mode (allowed: CR0.PE = 0; ECX = 2 is #GP), CMOVcc with a false
; condition still faulting on its memory operand, and UD0/UD1/UD2 raising #UD with IP on
; the instruction (SDM Vol.2 opcode map A.3, SALC/INT1/RDPMC/CMOVcc/UD pages).
%include "rm.inc"

; Handlers for #UD (6), #GP (13) and INT1 (1): record vector and the pushed IP, then resume
; at the address in [resume] (the #UD/#GP ones) or return (INT1 is a trap).
ud_handler:
        mov     byte [es:0], 6
        jmp     fault_common
gp_handler:
        mov     byte [es:0], 13
fault_common:
        push    bp
        mov     bp, sp
        push    ax
        mov     ax, [bp+2]
        mov     [es:2], ax              ; pushed IP
        mov     ax, [es:4]
        mov     [bp+2], ax              ; resume address
        pop     ax
        pop     bp
        iret
int1_handler:
        mov     byte [es:0], 1
        push    bp
        mov     bp, sp
        push    ax
        mov     ax, [bp+2]
        mov     [es:2], ax
        pop     ax
        pop     bp
        iret

; ARM resume_label: clear the recorded vector and set where the #UD/#GP handler resumes.
%macro ARM 1
        mov     byte [es:0], 0xFF
        mov     word [es:4], %1
%endmacro

start:
        SET_IVT 6, ud_handler
        SET_IVT 13, gp_handler
        SET_IVT 1, int1_handler

        ; ---- SALC with CF = 1: 0x7F + 0x81 = 0x100 leaves CF ZF AF PF
        mov     ax, 0x1234
        mov     bl, 0x7F
        add     bl, 0x81
        db      0xD6                            ; salc
        FLAGS_IS F_ARITH, F_CF|F_ZF|F_AF|F_PF, "salc keeps flags (CF=1)"
        CHECK16 ax, 0x12FF, "salc CF=1"
        ; ---- SALC with CF = 0: 0x7F + 1 = 0x80 leaves OF SF AF
        mov     ax, 0xABCD
        mov     bl, 0x7F
        add     bl, 1
        db      0xD6
        FLAGS_IS F_ARITH, F_OF|F_SF|F_AF, "salc keeps flags (CF=0)"
        CHECK16 ax, 0xAB00, "salc CF=0"
        ; ---- SALC after STC/CLC (flags not from an ALU operation), with a 66 prefix
        mov     eax, 0x55555555
        stc
        db      0x66, 0xD6
        CHECK32 eax, 0x555555FF, "o32 salc touches AL only"
        clc
        db      0xD6
        CHECK32 eax, 0x55555500, "salc after clc"

        ; ---- 82: the 8-bit immediate group, alias of 80 outside 64-bit mode
        mov     bl, 0xFE
        db      0x82, 0xC3, 0x03                ; add bl, 3
        FLAGS_IS F_CF|F_ZF, F_CF, "82 /0 add flags"
        CHECK8  bl, 0x01, "82 /0 add"
        db      0x82, 0xFB, 0x01                ; cmp bl, 1
        FLAGS_IS F_ZF|F_CF, F_ZF, "82 /7 cmp"
        mov     byte [es:8], 0x0F
        db      0x26, 0x82, 0x0E, 0x08, 0x00, 0xF0  ; or byte [es:8], 0xF0
        CHECK8  [es:8], 0xFF, "82 /1 or memory"

        ; ---- shift group /6 = SAL (alias of /4 SHL)
        mov     ax, 0x4001
        db      0xD1, 0xF0                      ; sal ax, 1
        FLAGS_IS F_CF|F_OF|F_SF|F_ZF, F_OF|F_SF, "D1 /6 flags"
        CHECK16 ax, 0x8002, "D1 /6"
        mov     cl, 4
        mov     dx, 0x1234
        db      0xD3, 0xF2                      ; sal dx, cl
        FLAGS_IS F_CF, F_CF, "D3 /6 CF"
        CHECK16 dx, 0x2340, "D3 /6"
        mov     bl, 0x81
        db      0xC0, 0xF3, 0x02                ; sal bl, 2
        FLAGS_IS F_CF, 0, "C0 /6 CF"
        CHECK8  bl, 0x04, "C0 /6"
        mov     bh, 0x80
        db      0xD0, 0xF7                      ; sal bh, 1
        FLAGS_IS F_CF|F_ZF|F_OF, F_CF|F_ZF|F_OF, "D0 /6 flags"
        CHECK8  bh, 0x00, "D0 /6"
        mov     cl, 1
        mov     ch, 0x21
        db      0xD2, 0xF5                      ; sal ch, cl
        CHECK8  ch, 0x42, "D2 /6"
        mov     esi, 0x00012345
        db      0x66, 0xC1, 0xF6, 0x08          ; sal esi, 8
        CHECK32 esi, 0x01234500, "C1 /6 o32"

        ; ---- F6/F7 /1 = TEST (alias of /0); the immediate follows the ModRM
        mov     al, 0x0F
        db      0xF6, 0xC8, 0xF0                ; test al, 0xF0
        FLAGS_IS F_ZF|F_CF|F_OF|F_SF, F_ZF, "F6 /1 flags"
        CHECK8  al, 0x0F, "F6 /1 leaves al"
        mov     dx, 0x8001
        db      0xF7, 0xCA, 0x00, 0x80          ; test dx, 0x8000
        FLAGS_IS F_ZF|F_SF, F_SF, "F7 /1 flags"
        mov     edi, 0x00010000
        db      0x66, 0xF7, 0xCF, 0x00, 0x00, 0x01, 0x00  ; test edi, 0x10000
        FLAGS_IS F_ZF, 0, "F7 /1 o32 (imm32 length)"

        ; ---- INT1 (ICEBP): vector 1 through the IVT, a trap (IP after F1)
        mov     byte [es:0], 0xFF
        db      0xF1
.after_int1:
        CHECK8  [es:0], 1, "int1 vector"
        CHECK16 [es:2], .after_int1, "int1 pushed IP"

        ; ---- RDPMC in real mode: allowed (CR0.PE = 0); counter 0 is 0 after reset
        xor     ecx, ecx
        mov     eax, 0xFFFFFFFF
        mov     edx, 0xFFFFFFFF
        rdpmc
        CHECK32 eax, 0, "rdpmc 0 low"
        CHECK32 edx, 0, "rdpmc 0 high"
        ARM     .after_rdpmc2
        mov     ecx, 2
.rdpmc2:
        rdpmc
.after_rdpmc2:
        CHECK8  [es:0], 13, "rdpmc ecx=2 #GP"
        CHECK16 [es:2], .rdpmc2, "rdpmc ecx=2 IP"

        ; ---- CMOVcc with a false condition still reads its operand: a word at DS:FFFF
        ; crosses the segment limit, #GP (SDM Vol.2 CMOVcc: "the source operand is read")
        mov     ax, 0x1111
        xor     bx, bx
        inc     bx                              ; ZF = 0: cmove is false
        ARM     .after_cmov
.cmov:
        db      0x0F, 0x44, 0x06, 0xFF, 0xFF    ; cmove ax, [0xFFFF]
.after_cmov:
        CHECK8  [es:0], 13, "cmove false, operand over the limit: #GP"
        CHECK16 [es:2], .cmov, "cmove #GP IP"
        CHECK16 ax, 0x1111, "cmove false keeps ax"
        mov     word [es:0x10], 0x2222
        xor     bx, bx                          ; ZF = 1
        db      0x26, 0x0F, 0x44, 0x1E, 0x10, 0x00  ; cmove bx, [es:0x10]
        CHECK16 bx, 0x2222, "cmove true, 16-bit"

        ; ---- UD2, UD1, UD0 stay #UD with IP on the instruction
        ARM     .after_ud2
.ud2:   db      0x0F, 0x0B
.after_ud2:
        CHECK8  [es:0], 6, "ud2 #UD"
        CHECK16 [es:2], .ud2, "ud2 IP"
        ARM     .after_ud1
.ud1:   db      0x0F, 0xB9, 0xC0
.after_ud1:
        CHECK8  [es:0], 6, "ud1 #UD"
        CHECK16 [es:2], .ud1, "ud1 IP"
        ARM     .after_ud0
.ud0:   db      0x0F, 0xFF, 0xC0
.after_ud0:
        CHECK8  [es:0], 6, "ud0 #UD"
        CHECK16 [es:2], .ud0, "ud0 IP"

        jmp     pass

        ROM_END
