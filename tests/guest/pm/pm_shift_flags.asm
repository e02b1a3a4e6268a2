; Shift and rotate flags (issue 9): results and CF/OF (and SF ZF PF AF for shifts) after ROL
; ROR RCL RCR SHL SHR SAR SHLD SHRD, by 1, by imm8 and by CL, including the counts for which
; the SDM leaves OF undefined.  Expected values are Intel P6 behaviour, as Bochs models it:
; for any count OF is that of the LAST 1-bit step, read from the result:
;   ROL, RCL, SHL, SHLD: OF = MSB(result) ^ CF     ROR, RCR, SHR, SHRD: OF = bit W-1 ^ bit W-2
;   SAR: OF = 0; AF = 0 after shifts; SHL r8 by 9..31: CF = OF = 0; ROL/ROR r8/r16 by a
;   nonzero multiple of the width set CF/OF from the unrotated operand; 16-bit SHLD/SHRD by
;   17..31 shift dest:src:dest (P6).
; Each case is chosen so that the older "first step on the input" rule (OF = bit31 ^ bit30 of
; the source for ROL/RCL/SHL, MSB(src) ^ CF-in for RCR, MSB(src) for SHR) gives another OF.
%include "pm.inc"

%define ROT     0x801                   ; CF | OF: rotates change nothing else
%define ARITH   0x8D5                   ; CF PF AF ZF SF OF
%define C       0x001
%define P       0x004
%define Z       0x040
%define S       0x080
%define O       0x800

section .text
bits 32

; T "name", eax, ebx, ecx, flags in, insn, expected eax, flag mask, expected flags
%macro T 9
        mov     eax, %2
        mov     ebx, %3
        mov     ecx, %4
        push    dword (%5) | 2
        popfd
        %6
        pushfd
        pop     edx
        and     edx, %8
        CHECK   eax, %7, %1, " result"
        CHECK   edx, %9, %1, " flags"
%endmacro

global main
main:
        pushad
        ; ---- ROL / ROR: OF = MSB(result) ^ CF / the result's two top bits, imm8 and CL alike
        T "rol eax,4",   0x08000000, 0, 0, 0,      {rol eax, 4},  0x80000000, ROT, O
        T "rol eax,cl7", 0xFFFFFFFF, 0, 7, O,      {rol eax, cl}, 0xFFFFFFFF, ROT, C
        T "rol eax,7",   0xFFFFFFFF, 0, 0, O,      {rol eax, 7},  0xFFFFFFFF, ROT, C
        T "rol al,8",    0x01,       0, 0, 0,      {rol al, 8},   0x01,       ROT, C|O
        T "rol ax,4",    0x1234,     0, 0, 0,      {rol ax, 4},   0x2341,     ROT, C|O
        T "ror eax,cl36", 0x12345678, 0, 36, 0,    {ror eax, cl}, 0x81234567, ROT, C|O
        T "ror al,4",    0x84,       0, 0, 0,      {ror al, 4},   0x48,       ROT, O
        T "ror al,4 b",  0x12,       0, 0, C|O,    {ror al, 4},   0x21,       ROT, 0
        T "ror ax,16",   0xC000,     0, 0, O,      {ror ax, 16},  0xC000,     ROT, C
        T "ror eax,1",   0x00000001, 0, 0, 0,      {ror eax, 1},  0x80000000, ROT, C|O
        ; ---- RCL / RCR
        T "rcl eax,2",   0x20000000, 0, 0, 0,      {rcl eax, 2},  0x80000000, ROT, O
        T "rcl eax,2 b", 0xC0000000, 0, 0, 0,      {rcl eax, 2},  0x00000001, ROT, C|O
        T "rcl ax,16",   0x0000,     0, 0, C,      {rcl ax, 16},  0x8000,     ROT, O
        T "rcl al,cl8",  0x01,       0, 8, C,      {rcl al, cl},  0x80,       ROT, C
        T "rcl al,9",    0x55,       0, 0, C|O,    {rcl al, 9},   0x55,       ROT, C|O
        T "rcr eax,2",   0x00000001, 0, 0, 0,      {rcr eax, 2},  0x80000000, ROT, O
        T "rcr eax,2 b", 0x80000001, 0, 0, C,      {rcr eax, 2},  0xE0000000, ROT, 0
        T "rcr al,2",    0x03,       0, 0, 0,      {rcr al, 2},   0x80,       ROT, C|O
        T "rcr eax,1",   0x00000001, 0, 0, C,      {rcr eax, 1},  0x80000000, ROT, C|O
        ; ---- SHL / SHR / SAR (AF = 0)
        T "shl eax,1",   0x80000001, 0, 0, 0,      {shl eax, 1},  0x00000002, ARITH, C|O
        T "shl eax,3",   0x40000001, 0, 0, O,      {shl eax, 3},  0x00000008, ARITH, 0
        T "shl eax,2",   0x30000000, 0, 0, 0,      {shl eax, 2},  0xC0000000, ARITH, O|S|P
        T "shl al,cl9",  0x81,       0, 9, O|C,    {shl al, cl},  0x00,       ARITH, Z|P
        T "shl al,8",    0x81,       0, 0, 0,      {shl al, 8},   0x00,       ARITH, C|O|Z|P
        T "shr eax,2",   0x80000000, 0, 0, O,      {shr eax, 2},  0x20000000, ARITH, P
        T "shr eax,31",  0xFFFFFFFF, 0, 0, 0,      {shr eax, 31}, 0x00000001, ARITH, C
        T "shr al,cl8",  0x80,       0, 8, 0,      {shr al, cl},  0x00,       ARITH, C|Z|P
        T "sar eax,4",   0x80000008, 0, 0, O,      {sar eax, 4},  0xF8000000, ARITH, C|S|P
        ; ---- SHLD / SHRD
        T "shld eax,4",  0x12345678, 0x9ABCDEF0, 0, 0, {shld eax, ebx, 4}, 0x23456789, ARITH, C|O
        T "shrd eax,2",  0x00000000, 0x00000002, 0, 0, {shrd eax, ebx, 2}, 0x80000000, ARITH, O|S|P
        T "shld ax,16",  0x4567,     0x9869, 16, 0, {shld ax, bx, cl}, 0x9869, ARITH, C|S|P
        T "shrd ax,17",  0x4567,     0x9869, 0, 0,  {shrd ax, bx, 17}, 0xCC34, ARITH, C|S
        T "shld ax,17",  0x4567,     0x9869, 0, 0,  {shld ax, bx, 17}, 0x30D2, ARITH, C|O|P
        PRINT   `PASS\n`
        popad
        xor     eax, eax
        ret
