; Real mode: CPUID as a P6-class part answers it (SDM Vol.2 CPUID): leaf 0 (maximum basic
; leaf 1, "GenuineIntel"), leaf 1 (family 6 model 6 stepping 3, the implemented features
; and none of SSE/MMX/PAE/MCE), the extended leaves (maximum 0x80000004, no extended
; features, the brand string in 0x80000002-4) and leaves above either maximum answering
; with the highest basic leaf's data.
%include "rm.inc"

; CPUID_TO leaf, offset: store EAX EBX ECX EDX at ES:offset
%macro CPUID_TO 2
        mov     eax, %1
        mov     ebx, 0xDEADBEEF
        mov     ecx, 0xDEADBEEF
        mov     edx, 0xDEADBEEF
        cpuid
        mov     [es:%2], eax
        mov     [es:%2+4], ebx
        mov     [es:%2+8], ecx
        mov     [es:%2+12], edx
%endmacro

; SAME_AS_LEAF1 offset, "name": the 16 bytes at ES:offset equal leaf 1's at ES:0x10
%macro SAME_AS_LEAF1 2
        CHECK32 [es:%1], 0x00000663, %2
        mov     eax, [es:0x14]
        cmp     eax, [es:%1+4]
        jne     fail_leaf1
        mov     eax, [es:0x18]
        cmp     eax, [es:%1+8]
        jne     fail_leaf1
        mov     eax, [es:0x1C]
        cmp     eax, [es:%1+12]
        jne     fail_leaf1
%endmacro

fail_leaf1:
        mov     si, msg_leaf1
        call    puts
        mov     al, 0x7D
        jmp     exit_al
msg_leaf1: db "FAIL a leaf above the maximum does not repeat leaf 1", 10, 0

brand:  db "softcpu P6-class virtual CPU", 0

start:
        CPUID_TO 0, 0x00
        CHECK32 [es:0x00], 1, "max basic leaf"
        CHECK32 [es:0x04], 0x756E6547, "vendor EBX (Genu)"
        CHECK32 [es:0x0C], 0x49656E69, "vendor EDX (ineI)"
        CHECK32 [es:0x08], 0x6C65746E, "vendor ECX (ntel)"

        CPUID_TO 1, 0x10
        CHECK32 [es:0x10], 0x00000663, "signature: family 6 model 6 stepping 3"
        CHECK32 [es:0x14], 0, "leaf 1 EBX"
        CHECK32 [es:0x18], 0, "leaf 1 ECX: no SSE3-era features"
        ; FPU VME DE PSE TSC MSR CX8 APIC SEP PGE CMOV; not PAE MCE MTRR MCA PAT PSE36
        ; MMX FXSR SSE SSE2
        CHECK32 [es:0x1C], 0x0000AB3F, "leaf 1 EDX features"

        CPUID_TO 0x80000000, 0x20
        CHECK32 [es:0x20], 0x80000004, "max extended leaf"
        CHECK32 [es:0x24], 0, "0x80000000 EBX"
        CHECK32 [es:0x28], 0, "0x80000000 ECX"
        CHECK32 [es:0x2C], 0, "0x80000000 EDX"
        CPUID_TO 0x80000001, 0x30
        CHECK32 [es:0x30], 0, "0x80000001 EAX"
        CHECK32 [es:0x38], 0, "0x80000001 ECX: no LAHF64"
        CHECK32 [es:0x3C], 0, "0x80000001 EDX: no SYSCALL NX LM"

        ; brand string: 48 bytes at ES:0x40
        CPUID_TO 0x80000002, 0x40
        CPUID_TO 0x80000003, 0x50
        CPUID_TO 0x80000004, 0x60
        mov     si, brand
        mov     di, 0x40
        mov     cx, 29                          ; the string and its NUL
        repe cmpsb                              ; ds:si (ROM) with es:di
        FLAGS_IS F_ZF, F_ZF, "brand string (last byte compared)"
        CHECK16 cx, 0, "brand string"
        CHECK8  [es:0x6F], 0, "brand string ends with NUL"

        ; above the maximum: the highest basic leaf (1)
        CPUID_TO 2, 0x80
        SAME_AS_LEAF1 0x80, "leaf 2 -> leaf 1"
        CPUID_TO 0x40000000, 0x90
        SAME_AS_LEAF1 0x90, "leaf 0x40000000 -> leaf 1"
        CPUID_TO 0x80000005, 0xA0
        SAME_AS_LEAF1 0xA0, "leaf 0x80000005 -> leaf 1"
        CPUID_TO 0xFFFFFFFF, 0xB0
        SAME_AS_LEAF1 0xB0, "leaf 0xFFFFFFFF -> leaf 1"

        jmp     pass

        ROM_END
