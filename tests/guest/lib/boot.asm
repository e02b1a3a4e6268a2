; Boot stub shared by the C guests and the protected-mode assembly tests.
;
; The CPU starts in real mode at F000:FFF0 (the .reset section, linked at
; 0xFFFF0).  We far-jump into the ROM proper, load a GDT, set CR0.PE, far-jump
; into a flat 32-bit code segment, copy .data from ROM to RAM, clear .bss,
; build an IDT whose 256 interrupt gates all lead to trap_common (which calls
; the C dispatcher in guestlib.c) and call main().  main's return value is the
; exit value written to the isa-debug-exit port 0xF4.
;
; GDT (all descriptors have the accessed bit preset so the CPU never needs to
; write to ROM):
;   0x08 code32 flat          0x10 data32 flat
;   0x18 code16 base 0xF0000 limit 0xFFFF
;   0x20 data16 base 0 limit 0xFFFF
;   0x28 data32 base 0x20000 limit 0xFFF (byte granular; limit tests)
;   0x30 data read-only base 0 limit 0xFFFF
;   0x38 code32 base 0xF0000 limit 0xFFFF (non-flat 32-bit code)

%define ROMBASE 0xF0000

extern main
extern guest_exit
extern trap_dispatch
extern __data_start, __data_end, __data_load, __bss_start, __bss_end
extern __stack_top

global real_start, gdt, gdt_desc, idt, idt_desc, trap_stubs, trap_common

; ---------------------------------------------------------------- real mode
section .text16 progbits alloc exec
bits 16
real_start:
        cli
        cld
        mov     ax, cs                  ; 0xF000
        mov     ds, ax
        lgdt    [gdt_desc - $$]         ; .text16 is linked first, at 0xF0000
        mov     eax, cr0
        or      al, 1                   ; CR0.PE
        mov     cr0, eax
        jmp     dword 0x08:pm_entry     ; SDM Vol.3 9.9.1: far jmp right after mov cr0

align 8
gdt:
        dq      0
        dw      0xFFFF, 0x0000
        db      0x00, 0x9B, 0xCF, 0x00  ; 0x08 code32 flat
        dw      0xFFFF, 0x0000
        db      0x00, 0x93, 0xCF, 0x00  ; 0x10 data32 flat
        dw      0xFFFF, 0x0000
        db      0x0F, 0x9B, 0x00, 0x00  ; 0x18 code16, base 0xF0000
        dw      0xFFFF, 0x0000
        db      0x00, 0x93, 0x00, 0x00  ; 0x20 data16, base 0
        dw      0x0FFF, 0x0000
        db      0x02, 0x93, 0x40, 0x00  ; 0x28 data32 base 0x20000 limit 0xFFF
        dw      0xFFFF, 0x0000
        db      0x00, 0x91, 0x00, 0x00  ; 0x30 data read-only, base 0, limit 0xFFFF
        dw      0xFFFF, 0x0000
        db      0x0F, 0x9B, 0x40, 0x00  ; 0x38 code32 base 0xF0000 limit 0xFFFF
gdt_end:
gdt_desc:
        dw      gdt_end - gdt - 1
        dd      gdt

; ------------------------------------------------------------- 32-bit entry
section .text
bits 32
pm_entry:
        mov     ax, 0x10
        mov     ds, ax
        mov     es, ax
        mov     fs, ax
        mov     gs, ax
        mov     ss, ax
        mov     esp, __stack_top
        cld
        ; .data: ROM -> RAM
        mov     esi, __data_load
        mov     edi, __data_start
        mov     ecx, __data_end
        sub     ecx, edi
        rep movsb
        ; .bss = 0
        mov     edi, __bss_start
        mov     ecx, __bss_end
        sub     ecx, edi
        xor     eax, eax
        rep stosb
        ; IDT: 256 interrupt gates (type 0xE, DPL 0, present) -> trap_stubs[i]
        mov     edi, idt
        mov     ebx, trap_stubs
        xor     ecx, ecx
.gate:  mov     eax, ebx
        mov     [edi], ax               ; offset 15:0
        mov     word [edi+2], 0x08      ; selector
        mov     word [edi+4], 0x8E00    ; P=1 DPL=0 type=0xE
        shr     eax, 16
        mov     [edi+6], ax             ; offset 31:16
        add     edi, 8
        add     ebx, 16
        inc     ecx
        cmp     ecx, 256
        jb      .gate
        lidt    [idt_desc]
        call    main
        push    eax
        call    guest_exit
.hang:  cli
        hlt
        jmp     .hang

; Stub i is at trap_stubs + 16*i.  Vectors that push an error code
; (SDM Vol.3 6.13: 8, 10-14, 17) skip the dummy push.
align 16
trap_stubs:
%assign v 0
%rep 256
        align   16
%if v == 8 || (v >= 10 && v <= 14) || v == 17
        push    dword v
        jmp     trap_common
%else
        push    dword 0
        push    dword v
        jmp     trap_common
%endif
%assign v v+1
%endrep

; Frame (struct trap_frame): edi esi ebp esp ebx edx ecx eax vector error eip cs eflags
trap_common:
        pushad
        push    esp
        call    trap_dispatch
        add     esp, 4
        popad
        add     esp, 8
        iretd

section .rodata
idt_desc:
        dw      256*8 - 1
        dd      idt

section .bss
alignb 8
idt:    resb    256*8

; --------------------------------------------------------------- reset vector
section .reset progbits alloc exec
bits 16
        jmp     0xF000:0x0000           ; real_start: first in .text16, linked at 0xF0000
