/* Tiny freestanding runtime for guest programs (32-bit flat protected mode,
   entered by boot.asm).  Output goes to the debugcon port 0xE9 and/or COM1. */
#ifndef GUESTLIB_H
#define GUESTLIB_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#define DEBUGCON_PORT 0xE9
#define EXIT_PORT 0xF4
#define COM1 0x3F8

static inline void outb(uint16_t port, uint8_t v) { __asm__ volatile("outb %0, %1" : : "a"(v), "Nd"(port)); }
static inline void outl(uint16_t port, uint32_t v) { __asm__ volatile("outl %0, %1" : : "a"(v), "Nd"(port)); }
static inline uint8_t inb(uint16_t port) {
  uint8_t v;
  __asm__ volatile("inb %1, %0" : "=a"(v) : "Nd"(port));
  return v;
}

/* Where gprintf/gputs write: any combination of these bits (default CON_DEBUGCON). */
#define CON_DEBUGCON 1u
#define CON_SERIAL 2u
void con_select(unsigned mask);

void serial_init(void);
void serial_putc(char c);
void debugcon_putc(char c);
void gputc(char c);
void gputs(const char* s);
void gprintf(const char* fmt, ...); /* %d %u %x %08x %s %c %% ; 'l' and 'll' accepted */

/* Writes v to port 0xF4: the emulator exits with status (v << 1) | 1. */
__attribute__((noreturn)) void guest_exit(uint32_t v);

/* Prints "FAIL what: expected X saw Y" and exits with code if expected != seen. */
void check_eq(const char* what, uint32_t expected, uint32_t seen, uint32_t code);

/* Layout pushed by boot.asm's trap stubs (pushad after vector/error). */
struct trap_frame {
  uint32_t edi, esi, ebp, esp, ebx, edx, ecx, eax;
  uint32_t vector, error;
  uint32_t eip, cs, eflags;
};
typedef void (*trap_handler)(struct trap_frame*);
/* Handler for one vector; NULL restores the default (report and exit 0x7E). */
void set_trap_handler(unsigned vector, trap_handler h);
void trap_dispatch(struct trap_frame* f);

void* memcpy(void* d, const void* s, size_t n);
void* memmove(void* d, const void* s, size_t n);
void* memset(void* d, int c, size_t n);
int memcmp(const void* a, const void* b, size_t n);
size_t strlen(const char* s);

#endif
