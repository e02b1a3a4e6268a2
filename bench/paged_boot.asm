; Boot stub of bench_paged.rom: a tiny guest kernel that runs the C program
; (main) as ring-3 user code with paging on.  Derived from
; tests/guest/lib/boot.asm and linked by the same tests/guest/lib/guest.ld
; (code in the ROM at 0xF0000, .data/.bss in RAM from 0x10000, the user stack
; below 0x9F000).
;
;   real mode -> CR0.PE with a boot GDT in ROM -> copy .data, clear .bss ->
;   load the RAM GDT (ring-0 and ring-3 flat segments, a 32-bit TSS with
;   SS0:ESP0) -> IDT of 32 interrupt gates (DPL 0) to a ring-0 handler that
;   prints the vector on debugcon and exits through port 0xF4 with 0x7E ->
;   page directory and one page table (4 KiB pages, identity) -> CR3, CR0.PG
;   -> LTR -> IRET to ring 3 with IOPL=3 (the user code does its own port I/O
;   for debugcon and the exit port) -> call main; main's return value goes to
;   guest_exit.
;
; Fixed low-RAM kernel pages (supervisor only):
;   0x1000 page directory, 0x2000 page table (0..4 MiB), 0x3000 ring-0 stack.
; Page 0 is left unmapped (null pointer guard).  0x4000..0x9FFFF (RAM in use:
; .data, .bss, the user stack) is user read/write; 0xF0000..0xFFFFF (the ROM)
; is user read-only.

%define PD_ADDR         0x1000
%define PT_ADDR         0x2000
%define KSTACK_TOP      0x4000
%define USER_RAM_START  0x4000
%define USER_RAM_END    0xA0000
%define ROM_START       0xF0000
%define ROM_END         0x100000

%define PG_P    1
%define PG_RW   2
%define PG_US   4

%define SEL_KCODE       0x08
%define SEL_KDATA       0x10
%define SEL_UCODE       0x1B            ; 0x18 | RPL 3
%define SEL_UDATA       0x23            ; 0x20 | RPL 3
%define SEL_TSS         0x28

%define NVEC            32

extern main
extern guest_exit
extern __data_start, __data_end, __data_load, __bss_start, __bss_end
extern __stack_top

global real_start

; ---------------------------------------------------------------- real mode
section .text16 progbits alloc exec
bits 16
real_start:
        cli
        cld
        mov     ax, cs                  ; 0xF000
        mov     ds, ax
        lgdt    [boot_gdt_desc - $$]    ; .text16 is linked first, at 0xF0000
        mov     eax, cr0
        or      al, 1                   ; CR0.PE
        mov     cr0, eax
        jmp     dword SEL_KCODE:pm_entry ; SDM Vol.3 9.9.1: far jmp right after mov cr0

; Only for the switch to protected mode; accessed bits preset (it is in ROM).
align 8
boot_gdt:
        dq      0
        dw      0xFFFF, 0x0000
        db      0x00, 0x9B, 0xCF, 0x00  ; 0x08 code32 flat, DPL 0
        dw      0xFFFF, 0x0000
        db      0x00, 0x93, 0xCF, 0x00  ; 0x10 data32 flat, DPL 0
boot_gdt_end:
boot_gdt_desc:
        dw      boot_gdt_end - boot_gdt - 1
        dd      boot_gdt

; ------------------------------------------------------------- 32-bit entry
section .text
bits 32
pm_entry:
        mov     ax, SEL_KDATA
        mov     ds, ax
        mov     es, ax
        mov     fs, ax
        mov     gs, ax
        mov     ss, ax
        mov     esp, KSTACK_TOP
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

        ; The GDT lives in .data (RAM): LTR writes the TSS descriptor's busy bit.
        ; TSS descriptor base (SDM Vol.3 7.2.2): bits 15:0, 23:16, 31:24.
        mov     eax, tss
        mov     [gdt_tss + 2], ax
        shr     eax, 16
        mov     [gdt_tss + 4], al
        mov     [gdt_tss + 7], ah
        lgdt    [gdt_desc]
        jmp     SEL_KCODE:.reload
.reload:
        mov     ax, SEL_KDATA
        mov     ds, ax
        mov     es, ax
        mov     fs, ax
        mov     gs, ax
        mov     ss, ax

        ; TSS (in .bss, zeroed): SS0:ESP0 for the ring 3 -> 0 switch; I/O map
        ; base past the limit (no bitmap: IOPL=3 alone grants the port I/O).
        mov     dword [tss + 4], KSTACK_TOP     ; ESP0
        mov     dword [tss + 8], SEL_KDATA      ; SS0
        mov     word [tss + 102], 104           ; I/O map base

        ; IDT: NVEC interrupt gates (type 0xE, DPL 0, present) -> trap_stubs[i]
        mov     edi, idt
        mov     ebx, trap_stubs
        xor     ecx, ecx
.gate:  mov     eax, ebx
        mov     [edi], ax               ; offset 15:0
        mov     word [edi+2], SEL_KCODE ; selector
        mov     word [edi+4], 0x8E00    ; P=1 DPL=0 type=0xE
        shr     eax, 16
        mov     [edi+6], ax             ; offset 31:16
        add     edi, 8
        add     ebx, 16
        inc     ecx
        cmp     ecx, NVEC
        jb      .gate
        lidt    [idt_desc]

        ; Page directory: PDE 0 -> the page table; everything else not present.
        mov     edi, PD_ADDR
        mov     ecx, 2048               ; PD and PT: 2 * 1024 dwords
        xor     eax, eax
        rep stosd
        mov     dword [PD_ADDR], PT_ADDR | PG_US | PG_RW | PG_P
        ; Page table, identity: the kernel pages supervisor read/write ...
        mov     eax, PD_ADDR | PG_RW | PG_P
.kpage: mov     ebx, eax
        shr     ebx, 12
        mov     [PT_ADDR + ebx*4], eax
        add     eax, 0x1000
        cmp     eax, KSTACK_TOP
        jb      .kpage
        ; ... the RAM of the program user read/write ...
        mov     eax, USER_RAM_START | PG_US | PG_RW | PG_P
.upage: mov     ebx, eax
        shr     ebx, 12
        mov     [PT_ADDR + ebx*4], eax
        add     eax, 0x1000
        cmp     eax, USER_RAM_END
        jb      .upage
        ; ... and the ROM user read-only.
        mov     eax, ROM_START | PG_US | PG_P
.rpage: mov     ebx, eax
        shr     ebx, 12
        mov     [PT_ADDR + ebx*4], eax
        add     eax, 0x1000
        cmp     eax, ROM_END
        jb      .rpage

        mov     eax, PD_ADDR
        mov     cr3, eax
        mov     eax, cr0
        or      eax, 0x80000000         ; CR0.PG
        mov     cr0, eax
        jmp     .paged                  ; SDM Vol.3 9.9.1: a jump after setting PG
.paged:
        mov     ax, SEL_TSS
        ltr     ax

        ; IRET to ring 3 (SDM Vol.3 6.12.1 / IRET: return to outer privilege).
        ; The data segments are loaded with the ring-3 selector first: IRET
        ; would null any whose DPL is below the new CPL.
        mov     ax, SEL_UDATA
        mov     ds, ax
        mov     es, ax
        mov     fs, ax
        mov     gs, ax
        push    dword SEL_UDATA         ; SS
        push    dword __stack_top       ; ESP
        push    dword 0x3002            ; EFLAGS: IOPL=3, IF=0, bit 1
        push    dword SEL_UCODE         ; CS
        push    dword user_entry        ; EIP
        iretd

; Ring 3.
user_entry:
        call    main
        push    eax
        call    guest_exit              ; port 0xF4: the emulator stops here
.hang:  jmp     .hang                   ; (HLT would #GP at CPL 3)

; Stub i is at trap_stubs + 16*i.  Vectors that push an error code
; (SDM Vol.3 6.13: 8, 10-14, 17) skip the dummy push.
align 16
trap_stubs:
%assign v 0
%rep NVEC
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

; Ring 0, on the TSS stack: [esp] vector, error, eip, cs, eflags (, esp, ss).
; Prints "FAIL paged bench: vector V error E at CS:EIP cr2 C" and exits 0x7E.
trap_common:
        mov     ax, SEL_KDATA
        mov     ds, ax
        mov     es, ax
        mov     esi, msg_vec
        call    kputs
        mov     eax, [esp]
        call    kputhex
        mov     esi, msg_err
        call    kputs
        mov     eax, [esp+4]
        call    kputhex
        mov     esi, msg_at
        call    kputs
        mov     eax, [esp+12]
        call    kputhex
        mov     al, ':'
        out     0xE9, al
        mov     eax, [esp+8]
        call    kputhex
        mov     esi, msg_cr2
        call    kputs
        mov     eax, cr2
        call    kputhex
        mov     al, 10
        out     0xE9, al
        mov     al, 0x7E
        out     0xF4, al
.hang:  cli
        hlt
        jmp     .hang

; Writes the NUL-terminated string at esi to debugcon.
kputs:
        lodsb
        test    al, al
        jz      .done
        out     0xE9, al
        jmp     kputs
.done:  ret

; Writes eax as 8 hex digits to debugcon.
kputhex:
        mov     edx, eax
        mov     ecx, 8
.digit: rol     edx, 4
        mov     eax, edx
        and     eax, 15
        mov     al, [hexdigits + eax]
        out     0xE9, al
        loop    .digit
        ret

section .rodata
hexdigits:      db      "0123456789abcdef"
msg_vec:        db      10, "FAIL paged bench: vector 0x", 0
msg_err:        db      " error 0x", 0
msg_at:         db      " at ", 0
msg_cr2:        db      " cr2 0x", 0
idt_desc:
        dw      NVEC*8 - 1
        dd      idt

section .data
align 8
gdt:
        dq      0
        dw      0xFFFF, 0x0000
        db      0x00, 0x9B, 0xCF, 0x00  ; 0x08 code32 flat, DPL 0
        dw      0xFFFF, 0x0000
        db      0x00, 0x93, 0xCF, 0x00  ; 0x10 data32 flat, DPL 0
        dw      0xFFFF, 0x0000
        db      0x00, 0xFB, 0xCF, 0x00  ; 0x18 code32 flat, DPL 3
        dw      0xFFFF, 0x0000
        db      0x00, 0xF3, 0xCF, 0x00  ; 0x20 data32 flat, DPL 3
gdt_tss:
        dw      103, 0x0000
        db      0x00, 0x89, 0x00, 0x00  ; 0x28 32-bit TSS, available; base set at run time
gdt_end:
align 4
gdt_desc:
        dw      gdt_end - gdt - 1
        dd      gdt

section .bss
alignb 8
idt:    resb    NVEC*8
alignb 16
tss:    resb    104

; --------------------------------------------------------------- reset vector
section .reset progbits alloc exec
bits 16
        jmp     0xF000:0x0000           ; real_start: first in .text16, linked at 0xF0000
