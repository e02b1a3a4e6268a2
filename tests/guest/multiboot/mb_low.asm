; A Multiboot v1 ELF kernel with its segments in base memory, where the loader used to keep its
; own data: text at 0x8000, a 4 KiB data pattern at 0x5000, bss at 0x1000-0x5000. The loader
; must load it (QEMU and GRUB do) and put the GDT, stack and boot information elsewhere
; (Multiboot spec 0.6.96 3.2/3.3 says nothing of where; only that the kernel's image is
; intact). Then the direct-boot ACPI: an RSDP on a 16-byte boundary in 0xE0000-0xFFFFF
; (ACPI 1.0b 5.2.4.1) with a valid checksum, its RSDT listing an "HPET" table, and that BIOS
; area read-only like the shadow SeaBIOS leaves. Exit through the debug-exit port: 0 when
; every check passes (softcpu status 1), else the failed check's number. Run with
; --append lowtest.
        bits    32
MB_MAGIC equ 0x1BADB002
MB_FLAGS equ 0x00000003              ; page-aligned modules, memory info
TEXT     equ 0x8000
PATTERN  equ 0x5000
BSS      equ 0x1000
BSS_END  equ 0x5000

        section .text
        align   4
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
; CHECK_OUTSIDE reg/mem, length, code: [x, x + length) must miss the kernel's three ranges.
%macro  CHECK_OUTSIDE 3
        mov     eax, %1
        mov     ecx, %2
        mov     dl, %3
        call    check_outside
%endmacro

_start:
        cmp     eax, 0x2BADB002
        FAIL_IF ne, 2
        mov     esi, ebx
        mov     [saved_esp], esp

        mov     edi, PATTERN          ; the data segment: byte i = (i * 7 + 3) & 0xFF
        xor     ecx, ecx
.pattern:
        lea     eax, [ecx * 8]
        sub     eax, ecx
        add     eax, 3
        cmp     [edi + ecx], al
        FAIL_IF ne, 3
        inc     ecx
        cmp     ecx, 4096
        jb      .pattern

        mov     edi, BSS              ; bss cleared by the loader
        mov     ecx, (BSS_END - BSS) / 4
        xor     eax, eax
        repe    scasd
        FAIL_IF ne, 4

        cmp     dword [text_mark], 'TEXT' ; the end of the text is intact
        FAIL_IF ne, 5
        cmp     dword [text_mark + 4], 'END!'
        FAIL_IF ne, 5

        CHECK_OUTSIDE esi, 120, 6     ; the boot information
        mov     edi, [esi + 16]       ; the command line: "<path> lowtest"
        CHECK_OUTSIDE edi, 64, 7
        mov     ecx, 4096
        xor     al, al
        repne   scasb
        cmp     dword [edi - 8], 'lowt'
        FAIL_IF ne, 7
        cmp     dword [edi - 4], 'est'
        FAIL_IF ne, 7
        CHECK_OUTSIDE [esi + 48], [esi + 44], 8   ; the memory map
        mov     eax, [saved_esp]      ; the stack: the bytes just below ESP
        sub     eax, 256
        CHECK_OUTSIDE eax, 256, 9
        sgdt    [gdtr]                ; the GDT
        CHECK_OUTSIDE [gdtr + 2], 32, 10

        ; The RSDP in the BIOS area: "RSD PTR " on a 16-byte boundary, 20-byte checksum 0.
        mov     ebx, 0xE0000
.scan:
        cmp     dword [ebx], 'RSD '
        jne     .next
        cmp     dword [ebx + 4], 'PTR '
        jne     .next
        xor     ecx, ecx
        xor     al, al
.sum:
        add     al, [ebx + ecx]
        inc     ecx
        cmp     ecx, 20
        jb      .sum
        test    al, al
        jz      .found
.next:
        add     ebx, 16
        cmp     ebx, 0x100000
        jb      .scan
        jmp     fail_11
.found:
        mov     al, [ebx]             ; the BIOS area is read-only: a write is dropped
        not     byte [ebx]
        cmp     [ebx], al
        FAIL_IF ne, 12
        mov     edi, [ebx + 16]       ; the RSDT
        cmp     dword [edi], 'RSDT'
        FAIL_IF ne, 13
        mov     ecx, [edi + 4]        ; length: entries follow the 36-byte header
        sub     ecx, 36
        shr     ecx, 2
        jz      fail_14
        lea     edx, [edi + 36]
.entry:
        mov     eax, [edx]
        cmp     dword [eax], 'HPET'
        je      .hpet
        add     edx, 4
        dec     ecx
        jnz     .entry
        jmp     fail_14
.hpet:
        cmp     dword [eax + 44], 0xFED00000  ; base address (GAS address field)
        FAIL_IF ne, 15

        xor     al, al                ; all passed
finish:
        out     0xF4, al
        cli
        hlt

; eax = start, ecx = length, dl = failure code. Returns if [eax, eax + ecx) misses the
; text (TEXT..text_end), the pattern (PATTERN..+4 KiB) and the bss (BSS..BSS_END).
check_outside:
        lea     ebx, [eax + ecx]      ; end
        cmp     eax, text_end
        jae     .not_text
        cmp     ebx, TEXT
        ja      .bad
.not_text:
        cmp     eax, PATTERN + 4096
        jae     .ok
        cmp     ebx, BSS
        ja      .bad                  ; [BSS, PATTERN + 4 KiB) is one block of kernel
.ok:
        ret
.bad:
        mov     al, dl
        jmp     finish

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
        FAILURE 14
        FAILURE 15
saved_esp:
        dd      0
gdtr:
        dw      0
        dd      0
text_mark:
        db      'TEXTEND!'
text_end:

        section .pattern progbits alloc write align=16
%assign i 0
%rep 4096
        db      (i * 7 + 3) & 0xFF
%assign i i + 1
%endrep

        section .bss
        resb    BSS_END - BSS
