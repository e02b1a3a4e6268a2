; Debug registers (SDM Vol.3 17.2, 17.3.1): an instruction breakpoint is a
; fault before the instruction (DR6.B0; RF in the pushed EFLAGS lets it run
; once), data breakpoints are traps after the access (write-only and
; read/write, LEN 2 and 4, aligned), DR7.GD makes MOV DR a #DB fault with
; DR6.BD, and DR4/DR5 alias DR6/DR7 while CR4.DE = 0.
%include "pm.inc"

section .text
bits 32

%macro ARM 0
        mov     dword [count], 0
        mov     dword [last_eip], -1
        mov     dword [last_dr6], 0
%endmacro

global main
main:
        push    ebx
        push    dword db_handler
        push    dword 1
        call    set_trap_handler
        add     esp, 8
        xor     eax, eax
        mov     dr6, eax

        ; ---- instruction breakpoint in DR0 (R/W 00, LEN 00, L0)
        ARM
        mov     eax, .bp
        mov     dr0, eax
        mov     eax, 0x401
        mov     dr7, eax
        xor     ebx, ebx
        inc     ebx
.bp:    inc     ebx                     ; faults once, then runs with RF
        inc     ebx
        CHECK   [count], 1, "instruction breakpoint hits once"
        CHECK   [last_eip], .bp, "instruction breakpoint eip"
        CHECK   [last_dr6], 1, "DR6.B0"
        CHECK   ebx, 3, "breakpointed instruction ran"

        ; ---- data write breakpoint in DR1: 4 bytes
        ARM
        mov     eax, var
        mov     dr1, eax
        mov     eax, 0x400 | (1 << 2) | (1 << 20) | (3 << 22)
        mov     dr7, eax
        mov     eax, [var]              ; a read: no hit
        mov     [var+4], eax            ; next dword: no hit
        mov     byte [var+2], 7
.w1:    CHECK   [count], 1, "write breakpoint hits once"
        CHECK   [last_eip], .w1, "write breakpoint is a trap"
        CHECK   [last_dr6], 2, "DR6.B1"

        ; ---- read/write breakpoint in DR3: 2 bytes at var+6 (DR3 = var+7 aligns down)
        ARM
        mov     eax, var+7
        mov     dr3, eax
        mov     eax, 0x400 | (1 << 6) | (3 << 28) | (1 << 30)
        mov     dr7, eax
        mov     eax, [var]              ; no hit
        mov     al, [var+6]
.r1:    CHECK   [count], 1, "read breakpoint hits"
        CHECK   [last_eip], .r1, "read breakpoint eip"
        CHECK   [last_dr6], 8, "DR6.B3"

        ; ---- DR4/DR5 alias DR6/DR7 (CR4.DE = 0)
        mov     eax, dr5
        mov     ecx, dr7
        CHECK   eax, ecx, "DR5 reads DR7"

        ; ---- general detect: MOV DR faults with BD, GD is cleared
        ARM
        mov     eax, 0x400 | (1 << 13)
        mov     dr7, eax
.gd:    mov     eax, dr0                ; #DB, then re-executed with GD clear
        CHECK   [count], 1, "general detect"
        CHECK   [last_eip], .gd, "general detect is a fault"
        CHECK   [last_dr6], 0x2000, "DR6.BD"
        mov     eax, dr7
        and     eax, 1 << 13
        CHECK   eax, 0, "GD cleared"

        xor     eax, eax
        mov     dr7, eax
        pop     ebx
        ret

; void db_handler(struct trap_frame *f): record, clear DR6, resume with RF
db_handler:
        mov     eax, [esp+4]
        inc     dword [count]
        mov     edx, [eax+40]
        mov     [last_eip], edx
        mov     edx, dr6
        and     edx, 0xE00F
        mov     [last_dr6], edx
        xor     edx, edx
        mov     dr6, edx
        or      dword [eax+48], 0x10000 ; RF: an instruction breakpoint lets it run
        ret

section .data
align 8
var:    dd      0x11111111, 0x22222222

section .bss
alignb 4
count:          resd 1
last_eip:       resd 1
last_dr6:       resd 1
