; Protected-mode exceptions and software interrupts through the IDT built by
; boot.asm (256 32-bit interrupt gates).  Each case arms `resume`, runs the
; faulting instruction at a known site and checks the vector, error code and
; pushed EIP/CS that the handler recorded (SDM Vol.3 6.13-6.15):
;   #GP(0) data-segment limit violation (dword straddling the limit, byte past it)
;   #GP(0) write to a read-only data segment; #GP(0) access through a null selector
;   #GP(sel) loading a selector beyond the GDT limit; #GP(sel) SS = read-only segment
;   #UD from UD2, #DE from DIV by zero and IDIV overflow (faults: EIP = the instruction)
;   INT 0x40 and INT3 (traps: EIP = the next instruction, EFLAGS pushed).
%include "pm.inc"

section .text
bits 32

; TRY vector: install the catcher for `vector`, clear the record, arm resume
%macro TRY 2
        push    dword catcher
        push    dword %1
        call    set_trap_handler
        add     esp, 8
        mov     dword [got_vector], -1
        mov     dword [got_error], -1
        mov     dword [got_eip], -1
        mov     dword [resume], %2
%endmacro

; EXPECT "name", vector, error, eip
%macro EXPECT 4
        CHECK   [got_vector], %2, %1, " vector"
        CHECK   [got_error], %3, %1, " error code"
        CHECK   [got_eip], %4, %1, " pushed eip"
        CHECK   [got_cs], 0x08, %1, " pushed cs"
%endmacro

global main
main:
        push    ebx
        push    esi
        push    edi
        push    ebp

%ifndef QEMU_NO_SEG_LIMITS              ; QEMU's TCG does not check data-segment
                                        ; limits/types on access: skip when validating there
        ; ---- #GP(0): dword at fs:0xFFD crosses the 0xFFF limit of selector 0x28
        mov     ax, 0x28
        mov     fs, ax
        mov     eax, [fs:0xFFC]         ; last whole dword: fine
        mov     al, [fs:0xFFF]          ; last byte: fine
        TRY     13, .r1
        mov     ebx, 0x77
.s1:    mov     ebx, [fs:0xFFD]
        mov     ebx, 0xBAD
.r1:    EXPECT  "#GP dword past limit", 13, 0, .s1
        CHECK   ebx, 0x77, "#GP faulting load left ebx"

        TRY     13, .r2
.s2:    mov     byte [fs:0x1000], 1
.r2:    EXPECT  "#GP byte past limit", 13, 0, .s2
        mov     ax, 0x10
        mov     fs, ax

        ; ---- #GP(0): write through the read-only segment 0x30
        mov     ax, 0x30
        mov     gs, ax
        mov     al, [gs:0x100]          ; reading is fine
        TRY     13, .r3
.s3:    mov     [gs:0x100], al
.r3:    EXPECT  "#GP write read-only", 13, 0, .s3

        ; ---- #GP(0): memory access through a null selector (loading it is fine)
        xor     eax, eax
        mov     gs, ax
        TRY     13, .r4
.s4:    mov     eax, [gs:0]
.r4:    EXPECT  "#GP null selector", 13, 0, .s4
        mov     ax, 0x10
        mov     gs, ax

%endif

        ; ---- #GP(selector): selector beyond the GDT limit
        TRY     13, .r5
        mov     ax, 0x1238
.s5:    mov     fs, ax
.r5:    EXPECT  "#GP selector past GDT limit", 13, 0x1238, .s5
        xor     eax, eax
        mov     ax, fs
        CHECK   eax, 0x10, "fs unchanged after #GP"

        ; ---- #GP(selector): SS must be a writable data segment
        TRY     13, .r6
        mov     ax, 0x30
.s6:    mov     ss, ax
.r6:    EXPECT  "#GP ss read-only", 13, 0x30, .s6

        ; ---- #UD from UD2
        TRY     6, .r7
.s7:    ud2
.r7:    EXPECT  "#UD ud2", 6, 0, .s7

        ; ---- #DE from DIV by zero and from IDIV overflow
        TRY     0, .r8
        mov     eax, 1234
        xor     edx, edx
        xor     ecx, ecx
.s8:    div     ecx
.r8:    EXPECT  "#DE div0", 0, 0, .s8
        CHECK   eax, 1234, "#DE left eax"
        TRY     0, .r9
        mov     eax, 0x80000000
        cdq
        mov     ecx, -1
.s9:    idiv    ecx
.r9:    EXPECT  "#DE idiv overflow", 0, 0, .s9

        ; ---- INT 0x40: trap, EIP = next instruction, EFLAGS.CF pushed
        TRY     0x40, .r10
        stc
        int     0x40
.r10:   EXPECT  "int 0x40", 0x40, 0, .r10
        mov     eax, [got_eflags]
        and     eax, 0x201
        CHECK   eax, 1, "int 0x40 pushed eflags"
        CHECK   [got_if], 0, "interrupt gate clears IF"

        ; ---- INT3 (CC)
        TRY     3, .r11
        int3
.r11:   EXPECT  "int3", 3, 0, .r11

        ; ---- a handler that returns without redirecting: INT n then continue
        push    dword count_handler
        push    dword 0x41
        call    set_trap_handler
        add     esp, 8
        mov     dword [count], 0
        mov     ecx, 100
.loop:  int     0x41
        loop    .loop
        CHECK   [count], 100, "100 x int 0x41"

        PRINT   `PASS\n`
        xor     eax, eax
        pop     ebp
        pop     edi
        pop     esi
        pop     ebx
        ret

; void catcher(struct trap_frame *f): record and redirect to [resume]
catcher:
        mov     eax, [esp+4]
        mov     ecx, [eax+32]
        mov     [got_vector], ecx
        mov     ecx, [eax+36]
        mov     [got_error], ecx
        mov     ecx, [eax+40]
        mov     [got_eip], ecx
        mov     ecx, [eax+44]
        mov     [got_cs], ecx
        mov     ecx, [eax+48]
        mov     [got_eflags], ecx
        pushfd
        pop     ecx
        and     ecx, 0x200
        mov     [got_if], ecx
        mov     ecx, [resume]
        mov     [eax+40], ecx
        ret

count_handler:
        inc     dword [count]
        ret

section .bss
alignb 4
got_vector: resd 1
got_error:  resd 1
got_eip:    resd 1
got_cs:     resd 1
got_eflags: resd 1
got_if:     resd 1
resume:     resd 1
count:      resd 1
