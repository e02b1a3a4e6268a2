; TF single-step (SDM Vol.3 17.3.1.4): a #DB trap after every instruction that
; began with TF = 1, with DR6.BS set and the pushed EIP pointing at the next
; instruction.  The POPF that sets TF does not trap, the POPF that clears it
; does; the handler runs with TF clear (the interrupt gate clears it) and its
; IRETD restores it.  INT n clears TF for its handler: no traps in there.
%include "pm.inc"

section .text
bits 32

global main
main:
        push    ebx
        push    dword db_handler
        push    dword 1
        call    set_trap_handler
        add     esp, 8
        push    dword int_handler
        push    dword 0x41
        call    set_trap_handler
        add     esp, 8
        xor     eax, eax
        mov     dr6, eax
        mov     dword [count], 0
        mov     dword [bs_seen], 0

        pushfd
        or      dword [esp], 0x100
        popfd                           ; sets TF: no trap after it
.i1:    nop
.i2:    mov     eax, 1
.i3:    add     eax, 2
.i4:    pushfd
.i5:    and     dword [esp], ~0x100
.i6:    popfd                           ; began with TF = 1: traps
.i7:    nop                             ; TF clear: no trap
        CHECK   [count], 6, "single-step trap count"
        CHECK   eax, 3, "stepped code computed"
        CHECK   [eips+0], .i2, "trap 1 eip"
        CHECK   [eips+4], .i3, "trap 2 eip"
        CHECK   [eips+8], .i4, "trap 3 eip"
        CHECK   [eips+12], .i5, "trap 4 eip"
        CHECK   [eips+16], .i6, "trap 5 eip"
        CHECK   [eips+20], .i7, "trap 6 eip"
        CHECK   [bs_seen], 6, "DR6.BS set in every trap"
        CHECK   [tf_in_handler], 0, "handler runs with TF clear"

        ; INT n with TF set: the handler's two instructions are not stepped
        mov     dword [count], 0
        mov     dword [int_tf], -1
        pushfd
        or      dword [esp], 0x100
        popfd
.j1:    int     0x41
.j2:    nop
.j3:    pushfd
        and     dword [esp], ~0x100
        popfd
        CHECK   [int_tf], 0, "INT n handler runs with TF clear"
        CHECK   [eips+0], .j3, "first trap after the INT returns"
        CHECK   [count], 4, "traps after INT n returns (nop, pushfd, and, popfd)"

        xor     eax, eax
        pop     ebx
        ret

; void db_handler(struct trap_frame *f)
db_handler:
        mov     eax, [esp+4]
        mov     ecx, [count]
        mov     edx, [eax+40]           ; pushed EIP
        mov     [eips+ecx*4], edx
        inc     dword [count]
        mov     edx, dr6
        test    edx, 0x4000
        jz      .no_bs
        inc     dword [bs_seen]
.no_bs: xor     edx, edx
        mov     dr6, edx
        pushfd
        pop     edx
        and     edx, 0x100
        or      [tf_in_handler], edx
        ret

int_handler:
        pushfd
        pop     edx
        and     edx, 0x100
        mov     [int_tf], edx
        ret

section .bss
alignb 4
count:          resd 1
bs_seen:        resd 1
tf_in_handler:  resd 1
int_tf:         resd 1
eips:           resd 16
