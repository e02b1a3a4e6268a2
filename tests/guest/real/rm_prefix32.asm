; Real mode with 0x66 (operand size) and 0x67 (address size) prefixes:
; 32-bit arithmetic, SIB addressing, 16-bit offset wraparound without 0x67,
; 32-bit push/pop, LOOP/JECXZ using ECX under 0x67, and 486/P6 additions.
%include "rm.inc"

start:
        mov     eax, 0x89ABCDEF
        mov     ebx, 0x76543211
        add     eax, ebx                ; = 0x1_00000000
        FLAGS_IS F_CF|F_ZF, F_CF|F_ZF, "add32 carry out"
        CHECK32 eax, 0, "add32"
        mov     eax, 0x0000FFFF
        add     eax, 1                  ; carry from bit 15 into bit 16
        CHECK32 eax, 0x00010000, "add32 crosses 16 bits"
        mov     edx, 0x12345678
        mov     eax, 0x9ABCDEF0
        shld    edx, eax, 8
        CHECK32 edx, 0x3456789A, "shld"
        shrd    eax, edx, 12
        CHECK32 eax, 0x89A9ABCD, "shrd"
        mov     ecx, 100000
        imul    ecx, ecx, 3000
        CHECK32 ecx, 300000000, "imul32 imm"
        mov     eax, 0xFFFFFFFF
        mov     ecx, 0xFFFFFFFF
        mul     ecx
        CHECK32 eax, 1, "mul32 lo"
        CHECK32 edx, 0xFFFFFFFE, "mul32 hi"
        mov     edx, 7
        mov     eax, 0
        mov     ecx, 0x10000
        div     ecx
        CHECK32 eax, 0x70000, "div64/32"
        mov     eax, -1000000
        cdq
        mov     ecx, 3
        idiv    ecx
        CHECK32 eax, -333333, "idiv32 q"
        CHECK32 edx, -1, "idiv32 r"
        mov     eax, 0x11223344
        bswap   eax
        CHECK32 eax, 0x44332211, "bswap"
        mov     eax, 5
        mov     ebx, 10
        xadd    ebx, eax
        CHECK32 ebx, 15, "xadd dest"
        CHECK32 eax, 10, "xadd src"
        mov     eax, 15
        mov     ecx, 99
        cmpxchg ebx, ecx                ; eax == ebx -> ebx = ecx, ZF
        FLAGS_IS F_ZF, F_ZF, "cmpxchg equal ZF"
        CHECK32 ebx, 99, "cmpxchg equal"
        cmpxchg ebx, ecx                ; eax (15) != ebx -> eax = ebx
        CHECK32 eax, 99, "cmpxchg unequal"
        mov     eax, 1
        mov     ebx, 2
        cmp     eax, ebx
        cmovl   eax, ebx                ; P6
        CHECK32 eax, 2, "cmovl"
        mov     bl, 0xFE
        movsx   ecx, bl
        CHECK32 ecx, 0xFFFFFFFE, "movsx r32"

        ; 32-bit addressing in real mode: es:[ebx+ecx*4+8]
        mov     dword [es:0x128], 0xCAFEBABE
        mov     ebx, 0x100
        mov     ecx, 8
        mov     eax, [es:ebx+ecx*4+8]
        CHECK32 eax, 0xCAFEBABE, "a32 sib load"
        lea     eax, [ebx+ecx*8+0x12345678]  ; no memory access, full 32-bit sum
        CHECK32 eax, 0x12345778+0x40, "a32 lea"
        mov     esi, 0x120
        mov     dword [es:esi+ebx], 0x01020304     ; es:0x220
        CHECK32 [es:0x220], 0x01020304, "a32 store"
        lea     ax, [ebx+ecx*2]          ; 0x67 prefixed, 16-bit destination
        CHECK16 ax, 0x110, "a32 lea r16"

        ; without 0x67 offsets wrap at 64 KiB: [bx+2] with bx = 0xFFFF -> 0x0001
        mov     byte [es:0x0001], 0x5C
        mov     bx, 0xFFFF
        mov     al, [es:bx+2]
        CHECK8  al, 0x5C, "a16 wrap"
        mov     ebx, 0x12340010          ; upper half of EBX ignored by [bx]
        mov     byte [es:0x0010], 0x6D
        mov     al, [es:bx]
        CHECK8  al, 0x6D, "a16 ignores upper ebx"

        ; 32-bit push/pop change SP by 4
        mov     eax, 0xDEADBEEF
        push    eax
        CHECK16 sp, 0x7000 - 4, "push32 sp"
        pop     ecx
        CHECK32 ecx, 0xDEADBEEF, "pop32"
        push    dword 0x11112222
        pop     ax
        pop     bx
        CHECK16 ax, 0x2222, "push32 imm low"
        CHECK16 bx, 0x1111, "push32 imm high"
        pushfd
        pop     eax
        CHECK16 sp, 0x7000, "pushfd/pop sp"
        o32 pusha
        CHECK16 sp, 0x7000 - 32, "pushad sp"
        o32 popa

        ; LOOP with 0x67 uses ECX; without it only CX
        mov     ecx, 0x00010002
        xor     eax, eax
.l1:    inc     eax
        loop    .l1                     ; CX: 2 -> 0
        CHECK32 eax, 2, "loop cx count"
        CHECK32 ecx, 0x00010000, "loop keeps ecx high"
        mov     ecx, 0x00010002
        xor     eax, eax
.l2:    inc     eax
        a32 loop .l2                    ; ECX: 0x10002 iterations
        CHECK32 eax, 0x10002, "a32 loop count"
        mov     ecx, 0x00010000
        xor     ax, ax
        jcxz    .z1
        or      ax, 1
.z1:    a32 jecxz .z2
        or      ax, 2
.z2:    CHECK16 ax, 2, "jcxz vs jecxz"

        ; a32 rep movsd with ESI/EDI/ECX
        push    ds
        push    es
        pop     ds
        mov     dword [0x300], 0xA1A2A3A4
        mov     dword [0x304], 0xB1B2B3B4
        mov     esi, 0x300
        mov     edi, 0x400
        mov     ecx, 2
        a32 rep movsd
        pop     ds
        CHECK32 esi, 0x308, "a32 movsd esi"
        CHECK32 edi, 0x408, "a32 movsd edi"
        CHECK32 [es:0x404], 0xB1B2B3B4, "a32 movsd data"

        ; operand-size 32 near call/ret in real mode pushes a 4-byte return
        mov     dx, sp
        db      0x66, 0xE8              ; o32 call rel32 (spelled out: nasm mis-encodes
        dd      fn32 - ($ + 4)          ; "o32 call label" in a 16-bit org-0 image)
        CHECK16 ax, 0x7000 - 4, "o32 call sp"
        CHECK16 sp, 0x7000, "o32 ret sp"

        jmp     pass

fn32:   mov     ax, sp
        o32 ret

        ROM_END
