/* fault.h - allocation-failure injection shared by the allocators.
 *
 * In debug builds (ZC_DEBUG) an allocator instance carries a struct
 * zc_fault, armed at create time from an environment variable
 * (ZC_FAULT_BUDDY for alloc/buddy, ZC_FAULT_SLAB for alloc/slab) or later
 * by the allocator's *_fault_set() call.  The value "N" makes the Nth
 * allocation call from arming fail; "N/M" also fails every Mth call after
 * that.  An unarmed counter costs one relaxed load per allocation; release
 * builds compile all of it out through the stubs in the #else branch.
 *
 * Threads: every function is safe to call concurrently; the counter is a
 * handful of atomics, so a re-arm racing allocations may let one of those
 * calls see the old or the new setting (never a torn one).
 */
#ifndef ZC_ALLOC_FAULT_H
#define ZC_ALLOC_FAULT_H

#include <errno.h>
#include <stdbool.h>
#include <stdint.h>

#ifdef ZC_DEBUG
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>

struct zc_fault {
	_Atomic uint64_t nth;		/* first call to fail, counted from arming; 0: off */
	_Atomic uint64_t every;		/* then every `every`th call (0: only the nth) */
	_Atomic uint64_t calls;		/* allocation calls since arming */
	_Atomic uint64_t injected;	/* failures injected, ever */
};

/* Parse "N" or "N/M" (decimal).  Returns 0, or -EINVAL for anything else. */
static inline int zc_fault_parse(const char *s, uint64_t *nth, uint64_t *every)
{
	unsigned long long n, m = 0;
	char *end;

	if (*s < '0' || *s > '9')
		return -EINVAL;
	errno = 0;
	n = strtoull(s, &end, 10);
	if (*end == '/') {
		if (end[1] < '0' || end[1] > '9')
			return -EINVAL;
		m = strtoull(end + 1, &end, 10);
	}
	if (errno || *end)
		return -EINVAL;
	*nth = n;
	*every = m;
	return 0;
}

/* Fail the nth call from now, then every `every`th; nth 0 disarms. */
static inline void zc_fault_arm(struct zc_fault *f, uint64_t nth, uint64_t every)
{
	atomic_store(&f->nth, 0);	/* no call fires while re-arming */
	atomic_store(&f->calls, 0);
	atomic_store(&f->every, every);
	atomic_store(&f->nth, nth);
}

/* Start disarmed, then arm from $env if set; a malformed value is reported
 * on stderr (naming `who` and the variable) and ignored. */
static inline void zc_fault_init(struct zc_fault *f, const char *env, const char *who)
{
	const char *v = getenv(env);
	uint64_t nth, every;

	atomic_init(&f->nth, 0);
	atomic_init(&f->every, 0);
	atomic_init(&f->calls, 0);
	atomic_init(&f->injected, 0);
	if (!v || !*v)
		return;
	if (zc_fault_parse(v, &nth, &every) < 0) {
		fprintf(stderr, "%s: ignoring %s=\"%s\" (expected N or N/M)\n", who, env, v);
		return;
	}
	zc_fault_arm(f, nth, every);
}

/* Count one allocation call; true when it is to fail. */
static inline bool zc_fault_fire(struct zc_fault *f)
{
	uint64_t nth = atomic_load_explicit(&f->nth, memory_order_relaxed);
	uint64_t n, every;

	if (nth == 0)
		return false;
	n = atomic_fetch_add_explicit(&f->calls, 1, memory_order_relaxed) + 1;
	if (n < nth)
		return false;
	every = atomic_load_explicit(&f->every, memory_order_relaxed);
	if (n != nth && (every == 0 || (n - nth) % every != 0))
		return false;
	atomic_fetch_add_explicit(&f->injected, 1, memory_order_relaxed);
	return true;
}

/* Failures injected so far; 0 when injection is compiled out. */
static inline uint64_t zc_fault_count(struct zc_fault *f)
{
	return atomic_load(&f->injected);
}

/* Whether *_fault_set can arm anything: 0 here, -EOPNOTSUPP in release. */
#define ZC_FAULT_SET_RESULT 0
#else
struct zc_fault {
	char none;
};

static inline void zc_fault_init(struct zc_fault *f, const char *env, const char *who)
{
	(void)f;
	(void)env;
	(void)who;
}

static inline void zc_fault_arm(struct zc_fault *f, uint64_t nth, uint64_t every)
{
	(void)f;
	(void)nth;
	(void)every;
}

static inline bool zc_fault_fire(struct zc_fault *f)
{
	(void)f;
	return false;
}

static inline uint64_t zc_fault_count(struct zc_fault *f)
{
	(void)f;
	return 0;
}

#define ZC_FAULT_SET_RESULT (-EOPNOTSUPP)
#endif

#endif /* ZC_ALLOC_FAULT_H */
