/* The thin RTOS (guests/rtos) under the secondary hypervisor: the scenarios of issue 14's
 * tests, run in order by the boot task (vCPU 1, priority 10; the partition may use 1-200).
 * Results go to the debug console as "name key=value ..." lines that
 * tests/hv/secondary/secondary_test.cpp checks; "FAIL ..." lines name a failed check. The boot
 * task ends by asking the primary to stop its partition (HC_PARTITION_REQUEST).
 * Built with -DIDLE_FOREVER, it only blocks (the primary then stops it on its own). */
#include "guestlib.h"
#include "rtos.h"

#define MS 1000000ull

static unsigned failures;
static void check(const char* what, int ok) {
  if (!ok) {
    gprintf("FAIL %s\n", what);
    ++failures;
  }
}

/* ---- create/exit of 100 tasks ---- */
static volatile uint32_t ran;
static void count_task(uint32_t arg) { ran += arg; }

static void test_create_exit(void) {
  uint32_t ids_ok = 1;
  for (uint32_t k = 0; k < 100; ++k) {
    const int32_t id = rtos_task_create(count_task, 1, 20);  /* above us: runs and exits now */
    if (id <= 1) ids_ok = 0;
    if (ran != k + 1) ids_ok = 0;
  }
  gprintf("create_exit tasks=%u ok=%u\n", ran, ids_ok);
}

/* ---- wait on a changed word ---- */
static volatile uint32_t word;
static void test_wait_changed(void) {
  word = 5;
  const uint64_t t0 = sc_time_ns();
  const int32_t r = sc_wait(&word, 4, 0);
  const uint64_t t1 = sc_time_ns();
  gprintf("wait_changed result=%d us=%u\n", r, (uint32_t)((t1 - t0) / 1000));
}

/* ---- wake(n): exactly n, highest priority first ---- */
static volatile uint32_t wake_word, order[8], norder;
static void waiter(uint32_t prio) {
  sc_wait(&wake_word, 0, 0);
  order[norder++] = prio;
}
static void test_wake_order(void) {
  static const uint32_t prios[4] = {30, 60, 40, 50};
  for (int k = 0; k < 4; ++k) rtos_task_create(waiter, prios[k], prios[k]);  /* each blocks */
  const int32_t first = sc_wake(&wake_word, 2);  /* 60 and 50 run (and exit) before we go on */
  const uint32_t after_first = norder;
  const int32_t rest = sc_wake(&wake_word, 10);
  const int32_t none = sc_wake(&wake_word, 10);
  gprintf("wake_order first=%d after_first=%u rest=%d none=%d order=%u,%u,%u,%u\n", first,
          after_first, rest, none, order[0], order[1], order[2], order[3]);
}

/* ---- timeout ---- */
static void test_timeout(void) {
  word = 7;
  const uint64_t t0 = sc_time_ns();
  const int32_t r = sc_wait(&word, 7, 20 * MS);
  const uint64_t t1 = sc_time_ns();
  gprintf("timeout result=%d us=%u\n", r, (uint32_t)((t1 - t0) / 1000));
}

/* ---- priority inversion: L (20) holds the mutex, M (30) spins 200 ms, H (40) wakes from a
 * 5 ms sleep while M spins and wants the mutex. ---- */
static rtos_mutex mutex;
static volatile uint64_t h_want, h_got, m_end;

static void spin_ns(uint64_t ns) {
  const uint64_t end = sc_time_ns() + ns;
  while (sc_time_ns() < end) {}
}
static void task_m(uint32_t unused) {
  (void)unused;
  const uint64_t end = sc_time_ns() + 200 * MS;
  while (sc_time_ns() < end) {}
  m_end = sc_time_ns();
}
static void task_h(uint32_t unused) {
  (void)unused;
  rtos_sleep_ns(5 * MS);
  h_want = sc_time_ns();
  rtos_mutex_lock(&mutex);
  h_got = sc_time_ns();
  rtos_mutex_unlock(&mutex);
}
static void task_l(uint32_t unused) {
  (void)unused;
  rtos_mutex_lock(&mutex);
  rtos_task_create(task_h, 0, 40);  /* sleeps at once */
  rtos_task_create(task_m, 0, 30);  /* spins at once, above us */
  spin_ns(1 * MS);                  /* the critical section (with inheritance: H waits this) */
  rtos_mutex_unlock(&mutex);
}
static void test_inversion(void) {
  rtos_task_create(task_l, 0, 20);
  /* We (10) run again only when L, M and H have all ended. */
  gprintf("inversion h_wait_us=%u h_before_m_end=%u\n", (uint32_t)((h_got - h_want) / 1000),
          h_got < m_end);
}

/* ---- a raised holder preempted: L2 (20) holds mutex2; H2 (40) blocks on it, so L2 runs raised
 * to 40; then L2 creates X (50), which preempts it at once, so L2 is queued at its Tprio (the
 * one list operation inheritance costs; the test counts exactly one). ---- */
static rtos_mutex mutex2;
static volatile uint32_t h2_got, x_ran;
static void task_x(uint32_t unused) {
  (void)unused;
  x_ran = 1;
}
static void task_h2(uint32_t unused) {
  (void)unused;
  rtos_mutex_lock(&mutex2);
  h2_got = 1;
  rtos_mutex_unlock(&mutex2);
}
static void task_l2(uint32_t unused) {
  (void)unused;
  rtos_mutex_lock(&mutex2);
  rtos_task_create(task_h2, 0, 40);  /* blocks on mutex2: we run raised */
  rtos_task_create(task_x, 0, 50);   /* preempts us while raised */
  rtos_mutex_unlock(&mutex2);
}
static void test_raised_preempted(void) {
  rtos_task_create(task_l2, 0, 20);
  gprintf("raised_preempted x_ran=%u h2_got=%u\n", x_ran, h2_got);
}

/* ---- bad hypercalls: each an error, counted ---- */
static void test_bad_calls(void) {
  const int32_t a = sc_wait((volatile uint32_t*)0xF0000000u, 0, 0);   /* unmapped */
  const int32_t b = sc_wait((volatile uint32_t*)((uint32_t)&word + 1), 0, 0);  /* unaligned */
  const int32_t c = sc_set_priority(999, 20);                          /* no such vCPU */
  const int32_t d = sc_set_priority(0, 250);                           /* outside 1-200 */
  const int32_t e = sc_hypercall(HC_VCPU_CREATE, 0x1000, 0x2000, 0, 0);  /* priority 0 */
  const int32_t f = sc_hypercall(99, 0, 0, 0, 0);                      /* no such call */
  const int32_t g = sc_console_write((const void*)0xF0000000u, 16);    /* unmapped */
  static char nosuch[] = "nosuch";  /* in RAM */
  const int32_t h = sc_hypercall(HC_PARTITION_REQUEST, HC_PARTITION_STOP, (uint32_t)nosuch, 6, 0);
  const int32_t i = sc_hypercall(HC_PARTITION_REQUEST, 7, (uint32_t)nosuch, 6, 0);  /* bad op */
  gprintf("bad_calls %d %d %d %d %d %d %d %d %d\n", a, b, c, d, e, f, g, h, i);
}

/* ---- semaphore and a periodic task ---- */
static rtos_sem sem;
static volatile uint32_t ticks;
static void periodic(uint32_t n) {
  uint64_t next = sc_time_ns() + 2 * MS;
  for (uint32_t k = 0; k < n; ++k) {
    rtos_sleep_until_next(&next, 2 * MS);
    ++ticks;
    rtos_sem_post(&sem);
  }
}
static void test_sem_periodic(void) {
  rtos_task_create(periodic, 5, 50);
  uint32_t got = 0;
  while (rtos_sem_wait(&sem, 100 * MS) == 0 && ++got < 5) {}
  const int32_t late = rtos_sem_wait(&sem, 5 * MS);  /* nothing more comes */
  gprintf("sem_periodic got=%u ticks=%u late=%d\n", got, ticks, late);
}

int main(void) {
#ifdef IDLE_FOREVER
  gprintf("idle self=%d\n", rtos_self());
  sc_wait(&word, word, 0);
  gprintf("FAIL idle woke\n");
  return 3;
#else
  gprintf("start self=%d\n", rtos_self());
  rtos_printf("rtos: console %u %s\n", 42u, "ok");
  test_create_exit();
  test_wait_changed();
  test_wake_order();
  test_timeout();
  test_inversion();
  test_raised_preempted();
  test_bad_calls();
  test_sem_periodic();
  check("failures", failures == 0);
  gprintf("done\n");
  static char self_name[] = "rtos";  /* in RAM: the hypervisor reads RAM */
  sc_hypercall(HC_PARTITION_REQUEST, HC_PARTITION_STOP, (uint32_t)self_name, 4, 0);
  for (;;) {}
#endif
}
