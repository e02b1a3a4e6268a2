; A Multiboot v1 test kernel (ELF32) for `softcpu run --kernel`: it checks what the loader
; hands over (Multiboot spec 0.6.96, section 3.2 machine state and 3.3 boot information) and
; exits through the debug-exit port: 0 when every check passes (softcpu status 1), else the
; number of the failed check. Run with --append "mbtest" and two modules whose contents are
; "module-one" and "module-two", the second with the string "two args".
        bits    32
        section .text
        align   4
MB_MAGIC equ 0x1BADB002
MB_FLAGS equ 0x00000003              ; page-aligned modules, memory info
        dd      MB_MAGIC, MB_FLAGS, -(MB_MAGIC + MB_FLAGS)

        global  _start
%macro  FAIL_IF 2                     ; FAIL_IF cc, code
        j%1     fail_%2
%endmacro
%macro  FAILURE 1
fail_%1:
        mov     al, %1
        jmp     finish
%endmacro

_start:
        cmp     eax, 0x2BADB002       ; EAX: the bootloader magic
        FAIL_IF ne, 2
        mov     esi, ebx              ; EBX: the boot information
        pushfd                        ; IF clear, paging off, PE on
        pop     eax
        test    eax, 0x200
        FAIL_IF nz, 3
        mov     eax, cr0
        test    eax, 0x80000000
        FAIL_IF nz, 4
        test    eax, 1
        FAIL_IF z, 4
        mov     eax, [esi]            ; flags: mem (0), cmdline (2), mods (3), mmap (6)
        and     eax, 0x4D
        cmp     eax, 0x4D
        FAIL_IF ne, 5
        cmp     dword [esi + 4], 639  ; mem_lower in KiB
        FAIL_IF ne, 6
        cmp     dword [esi + 8], 15 * 1024   ; mem_upper: RAM above 1 MiB (-m 16)
        FAIL_IF ne, 7
        mov     edi, [esi + 16]       ; cmdline: "<kernel path> mbtest" ends with "mbtest"
        mov     ecx, 4096
        xor     al, al
        repne   scasb
        cmp     dword [edi - 7], 'mbte'
        FAIL_IF ne, 8
        cmp     word [edi - 3], 'st'
        FAIL_IF ne, 8
        cmp     dword [esi + 20], 2   ; mods_count
        FAIL_IF ne, 9
        mov     ebx, [esi + 24]       ; mods_addr: {start, end, string, reserved} each
        mov     eax, [ebx]
        test    eax, 0xFFF            ; page aligned (flag bit 0)
        FAIL_IF nz, 10
        cmp     dword [eax], 'modu'
        FAIL_IF ne, 11
        cmp     dword [eax + 6], '-one'
        FAIL_IF ne, 11
        mov     eax, [ebx + 16]       ; second module
        cmp     dword [eax + 6], '-two'
        FAIL_IF ne, 12
        mov     eax, [ebx + 16 + 8]   ; its string: "<path> two args"
        mov     edi, eax
        mov     ecx, 4096
        xor     al, al
        repne   scasb
        cmp     dword [edi - 5], 'args'
        FAIL_IF ne, 13
        xor     al, al                ; all passed
finish:
        out     0xF4, al
        cli
        hlt
        FAILURE 2
        FAILURE 3
        FAILURE 4
        FAILURE 5
        FAILURE 6
        FAILURE 7
        FAILURE 8
        FAILURE 9
        FAILURE 10
        FAILURE 11
        FAILURE 12
        FAILURE 13
