; A guest with no serial console for the console-script screen tests (console_script_test.py):
; a 64 KiB raw ROM at 0xF0000 (nasm -f bin) that writes to the VGA text buffer at 0xB8000 (the
; BIOS mode 3 layout the VgaText device starts in: 80x25 cells of character + attribute):
;   row 0   "softcpu screen guest"            at once
;   rows 2-6 "step 1" .. "step 5"             one by one, a busy delay apart, each on its own
;                                             row so each stays visible (the screen is polled)
;   row 8   "screen guest: ready"             after step 5
; then it spins forever (the script ends the run).

bits 16
org 0
cpu 686

%define ROW(n) ((n) * 160)
%define DELAY 8000000                   ; loop iterations between steps (tens of ms interpreted)

start:
        cli
        xor     ax, ax
        mov     ss, ax
        mov     sp, 0x7000
        mov     ax, 0xB800
        mov     es, ax
        cld
        xor     di, di                  ; blank the screen: spaces, light grey on black
        mov     cx, 80 * 25
        mov     ax, 0x0720
        rep     stosw
        mov     si, banner
        mov     di, ROW(0)
        call    puts
        mov     bx, '1'
.step:  mov     si, step_text
        mov     ax, bx
        sub     ax, '1'
        imul    di, ax, 160             ; row 2 + step - 1
        add     di, ROW(2)
        call    puts
        mov     al, bl                  ; the step's digit after "step "
        mov     ah, 0x07
        stosw
        mov     ecx, DELAY
.delay: dec     ecx
        jnz     .delay
        inc     bx
        cmp     bx, '5'
        jbe     .step
        mov     si, ready
        mov     di, ROW(8)
        call    puts
.spin:  jmp     .spin

puts:                                   ; cs:si (NUL-terminated) to es:di, attribute 0x07
        cs lodsb
        test    al, al
        jz      .done
        mov     ah, 0x07
        stosw
        jmp     puts
.done:  ret

banner:    db "softcpu screen guest", 0
step_text: db "step ", 0
ready:     db "screen guest: ready", 0

        times   0xFFF0 - ($ - $$) db 0xFF
        jmp     0xF000:start            ; the reset vector (0xFFFFFFF0 = 0xFFFF0)
        times   0x10000 - ($ - $$) db 0xFF
