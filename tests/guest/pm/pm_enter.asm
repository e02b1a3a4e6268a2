; ENTER checks its final stack pointer (issue 9; SDM vol.2 ENTER, protected-mode exceptions:
; "#SS(0) if the new value of the SP or ESP register is outside the stack segment limit",
; "#PF(fault-code) if a page fault occurs or if a write using the final value of the stack
; pointer (within the current stack segment) would cause a page fault").  With paging on:
;   ring 3, the push of EBP on a user page, the allocated frame ending on a supervisor-only
;   page: #PF error 7 (P|W|U), CR2 = the final ESP, EIP at the ENTER, ESP and EBP unchanged;
;   a nested ENTER whose third push reaches that page (CR2 = that push: the pushes come
;   before the final check, as in the SDM's pseudocode); the same ENTER completing once the
;   final ESP is on the user page
; Stack memory below ESP is not checked after a fault: a CPU may have written a push before
; faulting (softcpu probes first and writes nothing; tests/interp/stack_test.cpp checks that).
;   ring 0 with CR0.WP: the final ESP on a read-only page, #PF error 3 (P|W)
;   ring 0, an expand-down stack segment: a final ESP below the limit is #SS(0) with nothing
;   changed; the lowest valid final ESP (limit + 1) completes
%include "pm.inc"

extern gdt, idt

%define SEL_CODE3  0x43
%define SEL_DATA3  0x4B
%define SEL_TSS    0x50
%define SEL_DOWN   0x58                 ; expand-down data, B = 1, limit 0x8FFFF

%define PD      0x200000
%define PT0     0x201000                ; identity map of 0 - 4 MiB, user + writable
%define SUP     0x300000                ; page made supervisor-only (or read-only)
%define USR     0x301000                ; user stack page above it
%define PTE(lin) dword [PT0 + ((lin) >> 12) * 4]
%define DOWN_SP 0x90800                 ; expand-down stack: valid offsets 0x90000 and up

section .text
bits 32

; CLEAR resume: forget the last trap, arm the resume address
%macro CLEAR 1
        mov     dword [got_vector], -1
        mov     dword [got_error], -1
        mov     dword [got_eip], -1
        mov     dword [got_cr2], -1
        mov     dword [got_esp], -1
        mov     dword [resume], %1
%endmacro

; EXPECT "name", vector, error, eip, cr2
%macro EXPECT 5
        CHECK   [got_vector], %2, %1, " vector"
        CHECK   [got_error], %3, %1, " error code"
        CHECK   [got_eip], %4, %1, " pushed eip"
        CHECK   [got_cr2], %5, %1, " cr2"
%endmacro

; SET_GATE idt_entry_address, target, selector, attribute word
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
        ; ---- RAM GDT: the boot GDT, ring 3 code/data, a TSS, the expand-down stack segment
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
        mov     dword [ram_gdt + 0x58], 0x0000FFFF      ; 0x58 data expand-down, B=1,
        mov     dword [ram_gdt + 0x5C], 0x00489600      ;      limit 0x8FFFF, DPL 0
        lgdt    [gdt_desc]
        mov     dword [tss + 4], stack0_top             ; ESP0
        mov     dword [tss + 8], 0x10                   ; SS0
        mov     ax, SEL_TSS
        ltr     ax
        SET_GATE idt + 0x81*8, int81, 0x08, 0xEE00      ; back to ring 0 (DPL 3 gate)
        push    dword catcher
        push    dword 14
        call    set_trap_handler
        add     esp, 8
        push    dword catcher
        push    dword 12
        call    set_trap_handler
        add     esp, 8

        ; ---- paging: 0 - 4 MiB identity, user and writable; SUP supervisor-only
        mov     edi, PD
        xor     eax, eax
        mov     ecx, 1024
        rep stosd
        mov     edi, PT0
        mov     eax, 7                  ; P | RW | US
        mov     ecx, 1024
.ident: stosd
        add     eax, 0x1000
        loop    .ident
        mov     dword [PD], PT0 | 7
        mov     PTE(SUP), SUP | 3       ; P | RW, supervisor
        mov     eax, PD
        mov     cr3, eax
        mov     eax, cr0
        or      eax, 0x80000000
        mov     cr0, eax

        mov     [saved_esp], esp
        ; ---- IRETD to ring 3
        push    dword SEL_DATA3
        push    dword stack3_top
        pushfd
        push    dword SEL_CODE3
        push    dword ring3
        iretd

; Ring 3: records only (CHECK prints through a port, which ring 3 may not use).
ring3:
        mov     ax, SEL_DATA3
        mov     ds, ax
        mov     es, ax
        ; (1) enter 0x10, 0 from ESP = USR+8: EBP goes to USR+4 (user), the final ESP
        ;     USR+8-4-0x10 = 0x300FF4 is on the supervisor page
        CLEAR   .r1
        mov     esp, USR + 8
        mov     ebp, 0x11112222
.s1:    enter   0x10, 0
.r1:    mov     [r1_esp], esp
        mov     [r1_ebp], ebp
        mov     esi, got_vector
        mov     edi, rec1
        mov     ecx, 5
        rep movsd
        ; (2) enter 0, 3 from ESP = USR+8: pushes at USR+4, USR+0, then USR-4 (supervisor)
        CLEAR   .r2
        mov     esp, USR + 8
        mov     ebp, USR + 0x100
.s2:    enter   0, 3
.r2:    mov     [r2_esp], esp
        mov     [r2_ebp], ebp
        mov     esi, got_vector
        mov     edi, rec2
        mov     ecx, 5
        rep movsd
        ; (3) the same frame from ESP = USR+0x100 stays on the user page and completes
        CLEAR   .r3
        mov     esp, USR + 0x100
        mov     ebp, 0x33334444
.s3:    enter   0x10, 0
.r3:    mov     [r3_esp], esp
        mov     [r3_ebp], ebp
        mov     eax, [got_vector]
        mov     [r3_vector], eax
        mov     esp, stack3_top
        int     0x81

; Back to ring 0 for good: restore main's stack and segments.
int81:
        mov     ax, 0x10
        mov     ds, ax
        mov     es, ax
        mov     esp, [saved_esp]
        jmp     back

back:
        CHECK   [rec1], 14, "ring 3 final esp on supervisor page: vector"
        CHECK   [rec1 + 4], 7, "ring 3 final esp on supervisor page: error code"
        CHECK   [rec1 + 8], ring3.s1, "ring 3 final esp: pushed eip"
        CHECK   [rec1 + 12], USR + 8 - 4 - 0x10, "ring 3 final esp: cr2"
        CHECK   [rec1 + 16], USR + 8, "ring 3 final esp: pushed esp"
        CHECK   [r1_esp], USR + 8, "ring 3 final esp: esp unchanged"
        CHECK   [r1_ebp], 0x11112222, "ring 3 final esp: ebp unchanged"
        CHECK   [rec2], 14, "ring 3 nested push on supervisor page: vector"
        CHECK   [rec2 + 4], 7, "ring 3 nested push: error code"
        CHECK   [rec2 + 8], ring3.s2, "ring 3 nested push: pushed eip"
        CHECK   [rec2 + 12], USR - 4, "ring 3 nested push: cr2"
        CHECK   [r2_esp], USR + 8, "ring 3 nested push: esp unchanged"
        CHECK   [r2_ebp], USR + 0x100, "ring 3 nested push: ebp unchanged"
        CHECK   [r3_vector], -1, "ring 3 frame on the user page: no fault"
        CHECK   [r3_esp], USR + 0x100 - 4 - 0x10, "ring 3 frame on the user page: esp"
        CHECK   [r3_ebp], USR + 0x100 - 4, "ring 3 frame on the user page: ebp"
        CHECK   [USR + 0xFC], 0x33334444, "ring 3 frame on the user page: ebp pushed"

        ; ---- ring 0, CR0.WP: the final ESP on a read-only page.  The #PF frame goes on this
        ;      same stack, so ESP stays high on the user page: USR+0x800-4-0x900 = SUP+0xEFC
        mov     PTE(SUP), SUP | 1       ; P, read-only
        invlpg  [SUP]
        mov     eax, cr0
        or      eax, 1 << 16
        mov     cr0, eax
        CLEAR   .r4
        mov     esp, USR + 0x800
        mov     ebp, 0x44445555
.s4:    enter   0x900, 0
.r4:    mov     [r4_esp], esp
        mov     [r4_ebp], ebp
        mov     esp, [saved_esp]
        mov     eax, cr0
        and     eax, ~(1 << 16)
        mov     cr0, eax
        EXPECT  "ring 0 wp final esp", 14, 3, .s4, USR + 0x800 - 4 - 0x900
        CHECK   [r4_esp], USR + 0x800, "ring 0 wp: esp unchanged"
        CHECK   [r4_ebp], 0x44445555, "ring 0 wp: ebp unchanged"

        ; ---- ring 0, expand-down SS (valid offsets 0x90000 and up): the push of EBP at
        ;      0x907FC is inside, the final ESP 0x907FC - 0x7FD = 0x8FFFF is not: #SS(0)
        CLEAR   .r5
        mov     ax, SEL_DOWN
        mov     ss, ax
        mov     esp, DOWN_SP
        mov     ebp, 0x66667777
.s5:    enter   0x7FD, 0
.r5:    mov     [r5_esp], esp
        mov     [r5_ebp], ebp
        mov     eax, ss
        mov     [r5_ss], eax
        ; the lowest valid final ESP, 0x90000, completes
        mov     esp, DOWN_SP
        CLEAR   .r6
.s6:    enter   0x7FC, 0
.r6:    mov     [r6_esp], esp
        mov     ax, 0x10
        mov     ss, ax
        mov     esp, [saved_esp]
        CHECK   [got_vector], -1, "expand-down lowest final esp: no fault"
        CHECK   [r6_esp], 0x90000, "expand-down lowest final esp: esp"
        mov     eax, [rec5]
        CHECK   eax, 12, "expand-down final esp below limit: vector"
        CHECK   [rec5 + 4], 0, "expand-down: error code"
        CHECK   [rec5 + 8], .s5, "expand-down: pushed eip"
        CHECK   [r5_esp], DOWN_SP, "expand-down: esp unchanged"
        CHECK   [r5_ebp], 0x66667777, "expand-down: ebp unchanged"
        CHECK   [r5_ss], SEL_DOWN, "expand-down: ss unchanged"
        CHECK   [DOWN_SP - 4], 0x66667777, "expand-down lowest final esp: ebp pushed"

        PRINT   `PASS\n`
        popad
        xor     eax, eax
        ret

; void catcher(struct trap_frame *f): record vector, error, EIP, CR2 and (for a ring 3
; fault) the pushed ESP; resume at [resume].  Also keeps a copy for the #SS case in rec5,
; taken before the next CLEAR.
catcher:
        mov     eax, [esp+4]
        mov     ecx, [eax+32]
        mov     [got_vector], ecx
        mov     ecx, [eax+36]
        mov     [got_error], ecx
        mov     ecx, [eax+40]
        mov     [got_eip], ecx
        mov     ecx, cr2
        mov     [got_cr2], ecx
        test    byte [eax+44], 3        ; pushed CS: from ring 3, ESP and SS follow EFLAGS
        jz      .ring0
        mov     ecx, [eax+52]
        mov     [got_esp], ecx
.ring0: cmp     dword [eax+32], 12
        jne     .go
        mov     ecx, [eax+32]
        mov     [rec5], ecx
        mov     ecx, [eax+36]
        mov     [rec5 + 4], ecx
        mov     ecx, [eax+40]
        mov     [rec5 + 8], ecx
.go:    mov     ecx, [resume]
        mov     [eax+40], ecx
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
            resb 2048
stack0_top:
            resb 1024
stack3_top:
saved_esp:  resd 1
got_vector: resd 1                      ; the five records, in rec order
got_error:  resd 1
got_eip:    resd 1
got_cr2:    resd 1
got_esp:    resd 1
resume:     resd 1
rec1:       resd 5
rec2:       resd 5
rec5:       resd 3
r1_esp:     resd 1
r1_ebp:     resd 1
r2_esp:     resd 1
r2_ebp:     resd 1
r3_esp:     resd 1
r3_ebp:     resd 1
r3_vector:  resd 1
r4_esp:     resd 1
r4_ebp:     resd 1
r5_esp:     resd 1
r5_ebp:     resd 1
r5_ss:      resd 1
r6_esp:     resd 1
