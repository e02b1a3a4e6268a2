; P6 performance counters (SDM Vol.3 "Performance Monitoring (P6 Family)", Vol.2 RDPMC):
; PerfEvtSel0/1 (0x186/0x187) and PerfCtr0/1 (0xC1/0xC2) through RDMSR/WRMSR; a counter
; write takes bits 31:0 sign-extended to 40 bits; reserved PerfEvtSel bits (21, EN in
; PerfEvtSel1, 63:32) are #GP(0); event 0xC0 (instructions retired) counted with EN, USR
; and OS; RDPMC at CPL 0, #GP(0) for ECX = 2; at CPL 3 #GP(0) while CR4.PCE = 0 and the
; counter with CR4.PCE = 1 (ECX = 2 still #GP(0)).
%include "pm.inc"

extern gdt, idt

%define SEL_CODE3  0x43
%define SEL_DATA3  0x4B
%define SEL_TSS    0x50

%define PERFCTR0    0xC1
%define PERFCTR1    0xC2
%define PERFEVTSEL0 0x186
%define PERFEVTSEL1 0x187
%define EVT_INST_RETIRED_EN 0x004300C0     ; event C0, USR, OS, EN

section .text
bits 32

; SET_GATE idt_entry_address, target, selector, attribute word (P DPL type)
%macro SET_GATE 4
        mov     edi, %1
        mov     eax, %2
        mov     [edi], ax
        mov     word [edi+2], %3
        mov     word [edi+4], %4
        shr     eax, 16
        mov     [edi+6], ax
%endmacro

; ARM resume: clear the recorded #GP and set where the #GP handler resumes.
%macro ARM 1
        mov     dword [ss:gp_count], 0
        mov     dword [ss:gp_resume], %1
%endmacro

; WRMSR_GP msr, edx, eax, "name": the write must raise #GP(0) at the WRMSR.
%macro WRMSR_GP 4
        ARM     %%after
        mov     ecx, %1
        mov     edx, %2
        mov     eax, %3
%%insn: wrmsr
%%after:
        CHECK   [gp_count], 1, %4
        CHECK   [gp_eip], %%insn, %4
        CHECK   [gp_error], 0, %4
%endmacro

global main
main:
        pushad
        ; RAM GDT: the boot GDT's 8 entries, ring 3 code/data, a TSS.
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
        lgdt    [gdt_desc]
        mov     dword [tss + 4], stack0_top              ; ESP0
        mov     dword [tss + 8], 0x10                    ; SS0
        mov     ax, SEL_TSS
        ltr     ax
        SET_GATE idt + 13*8, gp_handler, 0x08, 0x8E00     ; #GP
        SET_GATE idt + 0x81*8, int81, 0x08, 0xEE00        ; back to ring 0 (DPL 3)

        ; ---- power-on values
        mov     ecx, PERFEVTSEL0
        rdmsr
        CHECK   eax, 0, "PerfEvtSel0 at reset"
        mov     ecx, PERFCTR1
        rdmsr
        CHECK   eax, 0, "PerfCtr1 at reset"

        ; ---- counter writes: bits 31:0, sign-extended to 40 bits
        mov     ecx, PERFCTR1
        mov     edx, 0x12345678                         ; ignored
        mov     eax, 0xFFFFFFF0
        wrmsr
        rdmsr
        CHECK   eax, 0xFFFFFFF0, "PerfCtr1 low after writing -16"
        CHECK   edx, 0xFF, "PerfCtr1 bits 39:32 = sign of bit 31"
        mov     edx, 0xFFFFFFFF
        mov     eax, 0x7FFFFFFF
        wrmsr
        rdmsr
        CHECK   eax, 0x7FFFFFFF, "PerfCtr1 low after 0x7FFFFFFF"
        CHECK   edx, 0, "PerfCtr1 bits 39:32 clear for a positive value"
        xor     ecx, ecx
        inc     ecx                                     ; counter 1
        rdpmc
        CHECK   eax, 0x7FFFFFFF, "rdpmc 1 at CPL 0"
        CHECK   edx, 0, "rdpmc 1 EDX"

        ; ---- reserved PerfEvtSel bits
        WRMSR_GP PERFEVTSEL0, 0, 0x00200000, "PerfEvtSel0 bit 21 #GP"
        WRMSR_GP PERFEVTSEL1, 0, 0x00400000, "PerfEvtSel1 EN bit #GP"
        WRMSR_GP PERFEVTSEL0, 1, 0, "PerfEvtSel0 bit 32 #GP"
        mov     ecx, PERFEVTSEL1
        mov     eax, 0x009FFFC0                         ; USR OS E PC INT INV, unit mask FF
        xor     edx, edx
        wrmsr
        rdmsr
        CHECK   eax, 0x009FFFC0, "PerfEvtSel1 read back"
        xor     eax, eax
        wrmsr

        ; ---- counting instructions retired on counter 0
        mov     ecx, PERFCTR0
        xor     eax, eax
        xor     edx, edx
        wrmsr
        mov     ecx, PERFEVTSEL0
        mov     eax, EVT_INST_RETIRED_EN
        wrmsr
        xor     ecx, ecx
        rdpmc
        mov     esi, eax                                ; 1
        nop                                             ; 2..11
        nop
        nop
        nop
        nop
        nop
        nop
        nop
        nop
        nop
        rdpmc                                           ; 12
        sub     eax, esi
        CHECK   eax, 12, "instructions retired between two RDPMCs"
        ; RDPMC with ECX = 2 at CPL 0: #GP(0)
        ARM     .after_bad0
        mov     ecx, 2
.bad0:  rdpmc
.after_bad0:
        CHECK   [gp_count], 1, "rdpmc ecx=2 at CPL 0: #GP"
        CHECK   [gp_eip], .bad0, "rdpmc ecx=2 #GP EIP"

        ; ---- ring 3 with CR4.PCE = 0: RDPMC is #GP(0)
        mov     [saved_esp], esp
        mov     eax, cr4
        and     eax, ~0x100
        mov     cr4, eax
        ARM     ring3_a.after
        push    dword SEL_DATA3
        push    dword stack3_top
        pushfd
        push    dword SEL_CODE3
        push    dword ring3_a
        iretd
ring3_a:
        xor     ecx, ecx
.insn:  rdpmc
.after: int     0x81                            ; back to ring 0 (step 1 -> after_a)

after_a:
        CHECK   [gp_count], 1, "rdpmc at CPL 3 without CR4.PCE: #GP"
        CHECK   [gp_eip], ring3_a.insn, "rdpmc CPL 3 #GP EIP"
        CHECK   [gp_error], 0, "rdpmc CPL 3 #GP error code"

        ; ---- ring 3 with CR4.PCE = 1: RDPMC reads the counter; ECX = 2 is still #GP(0)
        mov     eax, cr4
        or      eax, 0x100
        mov     cr4, eax
        mov     eax, cr4
        and     eax, 0x100
        CHECK   eax, 0x100, "CR4.PCE accepted"
        mov     dword [step], 1
        ARM     ring3_b.after
        push    dword SEL_DATA3
        push    dword stack3_top
        pushfd
        push    dword SEL_CODE3
        push    dword ring3_b
        iretd
ring3_b:
        xor     ecx, ecx
        rdpmc
        mov     [ss:r3_pmc0_lo], eax
        mov     [ss:r3_pmc0_hi], edx
        mov     ecx, 2
.insn:  rdpmc
.after: int     0x81

after_b:
        CHECK   [gp_count], 1, "rdpmc ecx=2 at CPL 3 with PCE: #GP"
        CHECK   [gp_eip], ring3_b.insn, "rdpmc ecx=2 CPL 3 #GP EIP"
        CHECK   [r3_pmc0_hi], 0, "rdpmc at CPL 3: counter bits 39:32"
        mov     eax, [r3_pmc0_lo]
        cmp     eax, 12
        setae   al
        movzx   eax, al
        CHECK   eax, 1, "rdpmc at CPL 3 read the running counter"
        ; counter 0 still counts after the ring 3 excursion; stop it and it holds still
        mov     ecx, PERFEVTSEL0
        xor     eax, eax
        xor     edx, edx
        wrmsr
        xor     ecx, ecx
        rdpmc
        mov     esi, eax
        nop
        nop
        rdpmc
        CHECK   eax, esi, "a disabled counter holds still"
        mov     eax, cr4
        and     eax, ~0x100
        mov     cr4, eax

        PRINT   `PASS\n`
        popad
        xor     eax, eax
        ret

; #GP: count, record error code and EIP, resume at [gp_resume].
gp_handler:
        inc     dword [ss:gp_count]
        mov     eax, [esp]
        mov     [ss:gp_error], eax
        mov     eax, [esp+4]
        mov     [ss:gp_eip], eax
        mov     eax, [ss:gp_resume]
        mov     [esp+4], eax
        add     esp, 4
        iretd

; INT 0x81 from ring 3: back to ring 0 on main's stack, continue with the next step.
int81:
        mov     ax, 0x10
        mov     ds, ax
        mov     es, ax
        mov     esp, [saved_esp]
        cmp     dword [step], 0
        je      after_a
        jmp     after_b

section .data
align 8
gdt_desc:
        dw      0x57
        dd      ram_gdt

section .bss
alignb 8
ram_gdt:    resb 0x58
tss:        resb 0x68
alignb 16
            resb 1024
stack0_top:
            resb 1024
stack3_top:
saved_esp:  resd 1
step:       resd 1
gp_count:   resd 1
gp_error:   resd 1
gp_eip:     resd 1
gp_resume:  resd 1
r3_pmc0_lo: resd 1
r3_pmc0_hi: resd 1
