; The fixed part of a random ROM (tests/fuzz/random_rom.py): set up a machine state described
; by a parameter block, then jump into random bytes.
;
; Assembled with `nasm -f bin`; the generator puts the result at linear 0xFE000 (offset 0xE000
; of the ROM's last 64 KiB) and the parameter block at 0xFF000; the reset vector far-jumps to
; F000:E000. Steps:
;   real mode: load the boot GDT below, enter flat 32-bit protected mode;
;   apply the copy list (ROM -> RAM images: GDT, IDT, LDT, TSS, IVT, page tables, code), the
;     write list (dword stores: single entries, MMIO registers) and the I/O list (port writes
;     and reads that program devices);
;   mode 0 (real): back to real mode, load segments, ESP, EFLAGS, GPRs, far jump (16-bit);
;   modes 1/2: LGDT/LIDT/LLDT/LTR and CR4/CR3/CR0 (paging) as the flags say, load segments,
;     ESP, EFLAGS and GPRs, then a far jump (mode 1: to a 16- or 32-bit code segment) or an
;     IRETD with a 3-, 5- or 9-dword frame (mode 2: ring 3, V86, or anything else).
; The generator keeps this code's page and the parameter page identity-mapped when it turns
; paging on, and selector 0x08 a flat readable 32-bit code segment in its GDT.

%include "params.inc"

; GPRs but ESP from the parameter block, read through CS (whose base is `cs_base`).
%macro LOAD_REGS 1
        mov     eax, [cs:PARAMS + P_REGS + 0 - %1]
        mov     ecx, [cs:PARAMS + P_REGS + 4 - %1]
        mov     edx, [cs:PARAMS + P_REGS + 8 - %1]
        mov     ebx, [cs:PARAMS + P_REGS + 12 - %1]
        mov     ebp, [cs:PARAMS + P_REGS + 20 - %1]
        mov     esi, [cs:PARAMS + P_REGS + 24 - %1]
        mov     edi, [cs:PARAMS + P_REGS + 28 - %1]
%endmacro

bits 16
org 0xFE000

start16:
        jmp     short start16_go
; ---- boot GDT (accessed bits preset: the CPU never writes to the ROM)
align 8
boot_gdt:
        dq      0
        dq      0x00CF9B000000FFFF              ; 0x08 code32 flat
        dq      0x00CF93000000FFFF              ; 0x10 data32 flat
        dq      0x00009B0F0000FFFF              ; 0x18 code16 base 0xF0000 limit 0xFFFF
        dq      0x000093000000FFFF              ; 0x20 data16 base 0 limit 0xFFFF
boot_gdt_end:
boot_gdt_desc:
        dw      boot_gdt_end - boot_gdt - 1
        dd      boot_gdt

start16_go:
        cli
        cld
        o32 lgdt [cs:boot_gdt_desc - $$ + 0xE000]  ; CS = 0xF000
        mov     eax, cr0
        or      al, 1                           ; CR0.PE
        mov     cr0, eax
        jmp     dword 0x08:pm32                 ; SDM vol.3 9.9.1

bits 32
pm32:
        mov     ax, 0x10
        mov     ds, ax
        mov     es, ax
        mov     ss, ax
        ; copy list: (dst, src, len) triples
        mov     ebx, PARAMS + P_COPY
        mov     edx, [PARAMS + P_NCOPY]
.copy:  test    edx, edx
        jz      .copied
        mov     edi, [ebx]
        mov     esi, [ebx + 4]
        mov     ecx, [ebx + 8]
        rep movsb
        add     ebx, 12
        dec     edx
        jmp     .copy
.copied:
        ; write list: (address, dword) pairs
        mov     ebx, PARAMS + P_WRITES
        mov     ecx, [PARAMS + P_NWRITES]
.write: jecxz   .written
        mov     edi, [ebx]
        mov     eax, [ebx + 4]
        mov     [edi], eax
        add     ebx, 8
        dec     ecx
        jmp     .write
.written:
        ; I/O list: OUT (or IN) of 1, 2 or 4 bytes at a port, in order
        mov     ebx, PARAMS + P_IO
        mov     esi, [PARAMS + P_NIO]
.io:    test    esi, esi
        jz      .io_done
        movzx   edx, word [ebx]
        mov     cx, [ebx + 2]
        mov     eax, [ebx + 4]
        test    ch, IO_IN >> 8
        jnz     .in
        cmp     cl, 1
        jne     .out2
        out     dx, al
        jmp     .io_next
.out2:  cmp     cl, 2
        jne     .out4
        out     dx, ax
        jmp     .io_next
.out4:  out     dx, eax
        jmp     .io_next
.in:    cmp     cl, 1
        jne     .in2
        in      al, dx
        jmp     .io_next
.in2:   cmp     cl, 2
        jne     .in4
        in      ax, dx
        jmp     .io_next
.in4:   in      eax, dx
.io_next:
        add     ebx, 8
        dec     esi
        jmp     .io
.io_done:
        cmp     dword [PARAMS + P_MODE], MODE_REAL
        je      to_real

        mov     ebx, [PARAMS + P_FLAGS]
        test    bl, F_LGDT
        jz      .no_gdt
        lgdt    [PARAMS + P_GDTR]
        jmp     0x08:.new_cs                    ; the generator's GDT has flat code at 0x08
.new_cs:
.no_gdt:
        test    bl, F_LIDT
        jz      .no_idt
        lidt    [PARAMS + P_IDTR]
.no_idt:
        test    bl, F_LLDT
        jz      .no_ldt
        lldt    [PARAMS + P_LDTR]
.no_ldt:
        test    bl, F_LTR
        jz      .no_tr
        ltr     [PARAMS + P_TR]
.no_tr:
        test    bl, F_PAGING
        jz      .no_paging
        mov     eax, [PARAMS + P_CR4]
        mov     cr4, eax
        mov     eax, [PARAMS + P_CR3]
        mov     cr3, eax
.no_paging:
        mov     eax, cr0
        or      eax, [PARAMS + P_CR0_OR]        ; PG, WP, NE, MP, EM, TS, AM ...
        mov     cr0, eax
        ; From here on DS may be anything: read the parameters through CS (flat, readable).
        mov     ss, [cs:PARAMS + P_SS]
        mov     esp, [cs:PARAMS + P_ESP]
        cmp     dword [cs:PARAMS + P_MODE], MODE_IRET
        je      .iret
        mov     ds, [cs:PARAMS + P_DS]
        mov     es, [cs:PARAMS + P_ES]
        mov     fs, [cs:PARAMS + P_FS]
        mov     gs, [cs:PARAMS + P_GS]
        push    dword [cs:PARAMS + P_EFLAGS]
        popfd
        LOAD_REGS 0
        jmp     far [cs:PARAMS + P_ENTRY]       ; offset32, selector

.iret:  ; EFLAGS before the IRETD (NT = 1 makes it a task return), then the frame's dwords
        push    dword [cs:PARAMS + P_EFLAGS]
        popfd
        mov     ecx, [cs:PARAMS + P_IRET_LEN]
.push:  push    dword [cs:PARAMS + P_IRET + ecx * 4 - 4]
        loop    .push
        mov     ds, [cs:PARAMS + P_DS]
        mov     es, [cs:PARAMS + P_ES]
        mov     fs, [cs:PARAMS + P_FS]
        mov     gs, [cs:PARAMS + P_GS]
        LOAD_REGS 0
        iretd

; ---- back to real mode (mode 0): 16-bit code and data segments of the boot GDT first
to_real:
        jmp     0x18:.pm16 - 0xF0000
bits 16
.pm16:  mov     ax, 0x20
        mov     ds, ax
        mov     es, ax
        mov     fs, ax
        mov     gs, ax
        mov     ss, ax
        mov     eax, cr0
        and     al, 0xFE
        mov     cr0, eax
        jmp     0xF000:.rm - 0xF0000
.rm:    mov     ss, [cs:PARAMS + P_SS - 0xF0000]
        mov     esp, [cs:PARAMS + P_ESP - 0xF0000]
        mov     ds, [cs:PARAMS + P_DS - 0xF0000]
        mov     es, [cs:PARAMS + P_ES - 0xF0000]
        mov     fs, [cs:PARAMS + P_FS - 0xF0000]
        mov     gs, [cs:PARAMS + P_GS - 0xF0000]
        push    dword [cs:PARAMS + P_EFLAGS - 0xF0000]
        popfd
        LOAD_REGS 0xF0000
        jmp     far [cs:PARAMS + P_ENTRY16 - 0xF0000]   ; offset16, segment
