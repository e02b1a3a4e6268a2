/* Two thin partitions of the secondary hypervisor share a page (a [[shared]] region, mapped at
 * a different guest-physical base in each) and lend each other dynamic memory by hypercall
 * (tests/hv/secondary/shared_test.cpp runs them). Built twice: -DROLE_A ("a": the waker and the
 * lender) and -DROLE_B ("b": the waiter and the borrower). Results go to the debug console as
 * "name key=value ..." lines; each ends by asking the primary to stop its own partition.
 *
 *   1. b waits on a word of the shared page (HC_WAIT at b's address); a wakes it (HC_WAKE at
 *      a's address): the secondary matches them by machine address.
 *   2. a fills the top page of its dynamic region with a marker, reads it (a TLB entry), lends
 *      8K to b (HC_MEM_LEND) and reads the page again: all ones, unmapped. b finds the pages
 *      in its dynamic region zeroed (no marker), writes them, gives them back
 *      (HC_MEM_RETURN) and reads all ones; a finds its page zeroed again.
 *   3. a's bad lend/return calls return errors. */
#include "guestlib.h"
#include "rtos.h"

#define MS 1000000ull

#ifdef ROLE_A
#define SHARED_BASE 0x00400000u  /* the shared region in a */
#else
#define SHARED_BASE 0x00600000u  /* ... and in b */
#endif
#define DYN_A 0x01000000u        /* a's dynamic region (64K, all of the pool at start) */
#define DYN_B 0x02000000u        /* b's dynamic region (64K, empty at start) */
#define MARKER 0xA5C3A5C3u

/* The shared page: words at the same offsets in both partitions. */
struct shared {
  volatile uint32_t b_ready;   /* b is about to wait on `wake` */
  volatile uint32_t wake;      /* b waits here; a wakes */
  volatile uint32_t a_note;    /* written by a, read by b through its own mapping */
  volatile uint32_t a_ready;   /* a is about to wait on `done` */
  volatile uint32_t done;      /* a waits here; b wakes */
  volatile uint32_t b_result;  /* what b saw in the lent pages */
};
#define SH ((struct shared*)SHARED_BASE)

static char self_name[8], peer_name[8];

/* Wake one waiter on w (which may not have blocked yet): retry for up to 5 s. */
static int32_t wake_one(volatile uint32_t* w) {
  const uint64_t until = sc_time_ns() + 5000 * MS;
  int32_t n = 0;
  while ((n = sc_wake(w, 1)) == 0 && sc_time_ns() < until) rtos_sleep_ns(MS);
  return n;
}

static void spin_until(volatile uint32_t* flag) {
  const uint64_t until = sc_time_ns() + 5000 * MS;
  while (!*flag && sc_time_ns() < until) rtos_sleep_ns(MS);
}

static void stop_self(void) {
  sc_hypercall(HC_PARTITION_REQUEST, HC_PARTITION_STOP, (uint32_t)self_name, 1, 0);
  for (;;) {}
}

#ifdef ROLE_A
int main(void) {
  self_name[0] = 'a';
  peer_name[0] = 'b';
  gprintf("start a\n");
  SH->a_note = 0x1234ABCDu;
  /* 1. wake b through a's mapping of the shared word. */
  spin_until(&SH->b_ready);
  volatile uint32_t* top = (volatile uint32_t*)(DYN_A + 0x10000 - 0x1000);
  const uint32_t before = *top;  /* zero: fresh pool memory */
  for (uint32_t k = 0; k < 1024; ++k) top[k] = MARKER;
  const uint32_t seen = top[0];  /* through the TLB entry the next read would use */
  /* 2. lend the top 8K (the lender gives its highest pages first) before waking b. */
  SH->a_ready = 1;
  const int32_t lent = sc_mem_lend(peer_name, 1, 8192);
  const uint32_t after_lend = top[0];
  const int32_t woken = wake_one(&SH->wake);
  gprintf("cross_wake woken=%d\n", woken);
  const int32_t w = sc_wait(&SH->done, 0, 5000 * MS);
  const uint32_t after_return = top[0];
  gprintf("lend before=%x seen=%x lent=%d after_lend=%x wait=%d b_result=%x after_return=%x\n",
          before, seen, lent, after_lend, w, SH->b_result, after_return);
  /* 3. errors: no such partition, not whole pages, more than there is, nothing lent back. */
  static char nosuch[] = "nosuch";
  const int32_t e1 = sc_mem_lend(nosuch, 6, 4096);
  const int32_t e2 = sc_mem_lend(peer_name, 1, 100);
  const int32_t e3 = sc_mem_lend(peer_name, 1, 1u << 20);
  const int32_t e4 = sc_mem_return(peer_name, 1, 4096, HC_MEM_TAKE_BACK);
  const int32_t e5 = sc_mem_lend(self_name, 1, 4096);
  const int32_t e6 = sc_mem_return(peer_name, 1, 4096, 7);
  gprintf("mem_errors %d %d %d %d %d %d\n", e1, e2, e3, e4, e5, e6);
  gprintf("done a\n");
  stop_self();
}
#else
int main(void) {
  self_name[0] = 'b';
  peer_name[0] = 'a';
  gprintf("start b\n");
  volatile uint32_t* lent = (volatile uint32_t*)DYN_B;
  const uint32_t unmapped = lent[0];  /* nothing lent yet: all ones */
  SH->b_ready = 1;
  const int32_t r = sc_wait(&SH->wake, 0, 5000 * MS);
  /* The two pages a lent are the first two of b's dynamic region: zeroed, no marker. */
  uint32_t nonzero = 0;
  for (uint32_t k = 0; k < 2048; ++k) nonzero += lent[k] != 0;
  for (uint32_t k = 0; k < 2048; ++k) lent[k] = 0x5A5A5A5Au;
  const uint32_t wrote = lent[2047];
  const int32_t back = sc_mem_return(peer_name, 1, 8192, HC_MEM_GIVE_BACK);
  const uint32_t after_back = lent[0];
  SH->b_result = nonzero;
  gprintf("cross_wait result=%d note=%x unmapped=%x\n", r, SH->a_note, unmapped);
  gprintf("borrow nonzero=%u wrote=%x back=%d after_back=%x\n", nonzero, wrote, back, after_back);
  spin_until(&SH->a_ready);
  wake_one(&SH->done);
  gprintf("done b\n");
  stop_self();
}
#endif
