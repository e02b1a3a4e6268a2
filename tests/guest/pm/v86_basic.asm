; Virtual-8086 mode (SDM Vol.3 chapter 20, Vol.1 18.5). A RAM GDT with a 32-bit TSS whose
; I/O permission bitmap allows port 0x80 and denies port 0x81; IRETD from ring 0 with VM=1
; enters V86 code in the ROM (F000:xxxx) with its stack and data at 8000:xxxx.  The V86
; code writes memory through DS, reads port 0x80 (allowed), reads port 0x81 (denied: #GP),
; executes CLI (IOPL 0: #GP) and HLT (#GP, used to leave).  The ring 0 #GP handler gets the
; V86 frame (GS FS DS ES SS ESP EFLAGS CS EIP and the error code) on the TSS ring 0 stack
; with DS/ES/FS/GS null, and resumes V86 with IRETD after the faulting instruction.
%include "pm.inc"

extern gdt, idt

%define SEL_TSS 0x40
%define V86_SEG 0x8000          ; V86 data and stack segment (linear 0x80000)

section .text
bits 32

global main
main:
        pushad
        mov     esi, gdt
        mov     edi, ram_gdt
        mov     ecx, 16
        rep movsd
        mov     edi, ram_gdt + SEL_TSS          ; TSS descriptor, limit = TSS_LIMIT
        mov     eax, tss
        mov     word [edi], TSS_LIMIT
        mov     [edi+2], ax
        shr     eax, 16
        mov     [edi+4], al
        mov     byte [edi+5], 0x89
        mov     byte [edi+6], 0
        mov     [edi+7], ah
        lgdt    [gdt_desc]
        mov     dword [tss + 4], stack0_top
        mov     dword [tss + 8], 0x10
        mov     word [tss + 0x66], 0x68         ; I/O bitmap base
        mov     edi, tss + 0x68                 ; ports 0-0x3FF denied, then the 0xFF byte
        mov     ecx, 0x81
        mov     al, 0xFF
        rep stosb
        and     byte [tss + 0x68 + 0x80/8], 0xFE   ; port 0x80 allowed
        mov     ax, SEL_TSS
        ltr     ax
        ; #GP -> v86_gp (interrupt gate, DPL 0)
        mov     eax, v86_gp
        mov     [idt + 13*8], ax
        mov     word [idt + 13*8 + 2], 0x08
        mov     word [idt + 13*8 + 4], 0x8E00
        shr     eax, 16
        mov     [idt + 13*8 + 6], ax
        mov     dword [0x80000 + 0x10], 0

        mov     [saved_esp], esp
        push    dword 0x7000                    ; GS
        push    dword 0x7100                    ; FS
        push    dword V86_SEG                   ; DS
        push    dword 0x7200                    ; ES
        push    dword V86_SEG                   ; SS
        push    dword 0x1000                    ; ESP
        push    dword 0x20002                   ; EFLAGS: VM, IOPL 0
        push    dword 0xF000                    ; CS
        push    dword v86_code - ROMBASE        ; EIP
        iretd

; #GP from V86: record the frame; HLT leaves V86, anything else is skipped.
v86_gp:
        mov     ax, 0x10
        mov     ds, ax
        mov     es, ax
        inc     dword [gp_count]
        mov     eax, [esp]
        mov     [gp_error], eax
        mov     eax, [esp+12]
        mov     [gp_eflags], eax
        mov     eax, [esp+24]
        mov     [gp_es], eax
        mov     eax, [esp+28]
        mov     [gp_ds], eax
        mov     eax, [esp+32]
        mov     [gp_fs], eax
        mov     eax, [esp+36]
        mov     [gp_gs], eax
        mov     [gp_esp], esp
        mov     ebx, [esp+4]                    ; EIP
        mov     ecx, [esp+8]                    ; CS
        shl     ecx, 4
        movzx   edx, byte [ecx + ebx]           ; the faulting opcode
        mov     eax, [gp_count]
        mov     [gp_op + eax - 1], dl
        mov     [gp_ip + eax*4 - 4], ebx
        cmp     dl, 0xF4
        je      .leave
        cmp     dl, 0xE4                        ; IN AL, imm8: 2 bytes
        jne     .one
        inc     dword [esp+4]
.one:   inc     dword [esp+4]
        add     esp, 4
        iretd
.leave: mov     esp, [saved_esp]
        jmp     after_v86

after_v86:
        CHECK   [gp_count], 3, "#GP count (in 0x81, cli, hlt)"
        CHECK   [gp_ip], v86_code.in81 - ROMBASE, "#GP EIP of IN AL,0x81"
        CHECK   [gp_ip+4], v86_code.cli - ROMBASE, "#GP EIP of CLI"
        CHECK   [gp_ip+8], v86_code.hlt - ROMBASE, "#GP EIP of HLT"
        CHECK   [gp_error], 0, "#GP error code"
        mov     eax, [gp_eflags]
        and     eax, 0x23000
        CHECK   eax, 0x20000, "pushed EFLAGS: VM=1 IOPL=0"
        CHECK   [gp_es], 0x7200, "pushed ES"
        CHECK   [gp_ds], V86_SEG, "pushed DS"
        CHECK   [gp_fs], 0x7100, "pushed FS"
        CHECK   [gp_gs], 0x7000, "pushed GS"
        CHECK   [gp_esp], stack0_top - 40, "frame on the TSS ring 0 stack"
        movzx   eax, word [0x80000 + 0x10]
        CHECK   eax, 0x1234, "V86 write through DS"
        movzx   eax, byte [0x80000 + 0x12]
        CHECK   eax, 0xFF, "V86 IN AL,0x80 allowed (unassigned port reads 0xFF)"
        movzx   eax, byte [0x80000 + 0x13]
        CHECK   eax, 0x5A, "V86 continued after the denied IN"
        movzx   eax, word [0x80000 + 0x14]
        CHECK   eax, 0x1000 - 2, "V86 SP after a push"
        PRINT   `PASS\n`
        popad
        xor     eax, eax
        ret

bits 16
v86_code:
        mov     ax, 0x1234
        mov     [0x10], ax
        mov     al, 0
        in      al, 0x80
        mov     [0x12], al
.in81:  in      al, 0x81
        mov     byte [0x13], 0x5A
        push    ax
        mov     [0x14], sp
.cli:   cli
.hlt:   hlt
        jmp     $

section .data
align 8
gdt_desc:
        dw      0x47
        dd      ram_gdt

section .bss
TSS_LIMIT equ 0x68 + 0x81 - 1
alignb 8
ram_gdt:    resb 0x48
tss:        resb 0x68 + 0x81
alignb 16
            resb 1024
stack0_top:
saved_esp:  resd 1
gp_count:   resd 1
gp_error:   resd 1
gp_eflags:  resd 1
gp_es:      resd 1
gp_ds:      resd 1
gp_fs:      resd 1
gp_gs:      resd 1
gp_esp:     resd 1
gp_op:      resb 4
gp_ip:      resd 4
