/* spill.h - the far tier's client: whole-file images kept in a memcached
 * cluster (DESIGN.md §5, "spill").
 *
 * When an ephemeral pool evicts a closed file, the fuse layer may first
 * store the file, still compressed, in the memory of other machines, and
 * fetch it back when the file is opened again.  This module is the client
 * for that tier.  It knows nothing of files, pools or pages: it moves a
 * "file image" - an opaque byte string the caller builds (a file's
 * compressed pages, serialized) - named by (ino, generation), to and from a
 * memcached cluster through libmemcached, on threads of its own, and it
 * never returns bytes that are not exactly the image stored under that name:
 * a missing item, a foreign or damaged item, a dead or restarted server all
 * end as -ENOENT ("the file is gone"), the way an evicted file is gone.
 *
 * Items and keys
 * --------------
 * An image of `len` bytes is cut into n = max(1, ceil(len / item_size))
 * items; item k holds bytes [k * item_size, min(len, (k + 1) * item_size))
 * behind a 64-byte header (struct zfs_spill_item_header, little endian):
 * magic, version, mount id, ino, generation, index k, count n, total
 * length, the payload's length and CRC-32C, the whole image's CRC-32C and a
 * CRC-32C of the header itself.  An empty image is one item with an empty
 * payload, so "stored, empty" differs from "missing".  Item k's key is
 *
 *     zc:<mount id, 16 hex digits>:<ino>:<gen>:<k>      (decimal numbers)
 *
 * at most ZFS_SPILL_KEY_MAX - 1 = 79 bytes, far under memcached's 250.  The
 * mount id is a random 64-bit number drawn at create (or given), so two
 * mounts - or one mount before and after a restart - never read each
 * other's items.
 *
 * Placement: every item of one image goes to one server, chosen by
 * libmemcached's consistent hashing (ketama) of the image's "group key",
 * the key without its ":<k>" (memcached_set_by_key / mget_by_key /
 * delete_by_key).  So a fetch is one multi-get to one server, and a dead
 * server costs exactly the images it held: with items spread over the
 * servers, one dead node of three would cost 1 - (2/3)^n of the n-item
 * images instead of a third of them.  Images of different files spread
 * over the servers.
 *
 * Failed servers are not removed from the ring (libmemcached's
 * REMOVE_FAILED_SERVERS is off): a key's server is then a pure function of
 * the server list, so every thread, and the same thread before and after
 * an outage, looks for an image where it was stored.  Ejecting a server
 * would move its keys to the others in each thread's libmemcached handle
 * at a different moment, and move them back when it returns, turning
 * images stored meanwhile into misses.  The price is that while a server
 * is down, stores of the images that hash to it fail (the caller drops
 * those files, as it does without this tier) - a dead node costs its
 * share, not the threads.  A server that fails to connect, times out or
 * drops a connection is marked down for everyone (this module keeps one
 * state per server shared by all threads): requests to it fail at once
 * without touching the network ("skips") until `retry_ms` has passed; then
 * one request probes it (the state reads "retrying"), and its success marks
 * it up again.  A server restarted empty simply misses.  A request that
 * fails without a timeout (a connection the server closed: it restarted,
 * or dropped an idle client) is sent once more on a new connection before
 * the server counts as failed; a timeout is never repeated, so one request
 * costs a thread at most about two connect timeouts plus a poll timeout per
 * reply it waits for.
 *
 * Memory for the images: stores borrow the caller's buffer (see
 * zfs_spill_store); fetches malloc() the returned image, which the caller
 * frees.  Each thread owns one libmemcached handle (one connection per
 * server) and one item buffer (64 + item_size bytes).
 *
 * Defaults, and why
 * -----------------
 * item_size 523264 (511 KiB): memcached 1.6's largest slab class is 512 KiB
 *   (slab_chunk_max, half its 1 MiB page), two per page.  A 511 KiB payload
 *   plus our header, the key (< 80 bytes) and memcached's item header
 *   (about 56 bytes) fills that class with under 0.2% waste, and stays under
 *   even a server started with -I 512k.  256 KiB would land in the 308 KiB
 *   class (17% waste); anything over 512 KiB is stored chunked.
 * ttl 86400 s (one day): memcached measures relative expiry on its own
 *   clock, so no clock agreement is needed.  A crashed or restarted mount
 *   (whose new mount id can never read the old items) leaves nothing for
 *   longer than this, and memcached's LRU reclaims it sooner under pressure;
 *   a file evicted and not reopened within a day is cold, and losing it
 *   costs a miss.  At most 30 days: memcached reads larger values as dates.
 * connect_timeout_ms 250, poll_timeout_ms 500: a LAN connect takes well
 *   under a millisecond and a 511 KiB item about 4 ms at 1 Gbit/s, so these
 *   are 2-3 orders of magnitude of slack, yet a blackholed or hung server
 *   costs one thread at most 250 ms + 500 ms per request before it is marked
 *   down and skipped.  Bounded to 1 .. 60000 ms.
 * retry_ms 5000: a dead server costs at most one probe (one connect
 *   timeout) per 5 s across all threads, and a restarted one is used again
 *   within 5 s (it comes back empty, so hurrying gains little).
 * threads 2, fetch_threads 2: two requests in flight each way keep a LAN
 *   busy while one waits for a reply; fetches have their own threads so a
 *   reopen never waits behind a queue of spills.
 * queue_max 256 requests, queue_bytes 64 MiB of images waiting to be stored:
 *   at 1 Gbit/s 64 MiB is about half a second of work; beyond it a store
 *   fails at once with -EAGAIN so eviction goes on (by dropping the file)
 *   instead of waiting for the network.
 *
 * Threads and locks
 * -----------------
 * Every function is thread safe, except zfs_spill_destroy, which no other
 * call may overlap or follow.  Callbacks run on this module's threads (or,
 * for work still queued, on the thread calling zfs_spill_destroy) with no
 * lock of this module held; they may call zfs_spill_store, _fetch and
 * _delete (never _destroy, never the _sync wrappers) and should be short.
 * Lock order: a queue's lock -> sp->srv_lock.  The two queues' locks are
 * never held together.  No lock is held across network I/O or a callback.
 */
#ifndef ZC_FUSE_SPILL_H
#define ZC_FUSE_SPILL_H

#include <stddef.h>
#include <stdint.h>

struct zfs_spill;

/* ---- configuration --------------------------------------------------- */

#define ZFS_SPILL_SERVERS_MAX 64	/* servers in one list */
#define ZFS_SPILL_HOST_MAX 254		/* a host name or address, with NUL */
#define ZFS_SPILL_NAME_MAX 264		/* "host:port" / "[v6]:port", with NUL */
#define ZFS_SPILL_KEY_MAX 80		/* a key, with NUL */
#define ZFS_SPILL_ERROR_MAX 160		/* a server's last error text, with NUL */
#define ZFS_SPILL_DEFAULT_PORT 11211	/* when an element names no port */

#define ZFS_SPILL_TTL_DEFAULT 86400u
#define ZFS_SPILL_TTL_MAX 2592000u	/* 30 days: memcached's relative limit */
#define ZFS_SPILL_ITEM_DEFAULT 523264u	/* 511 KiB of payload per item */
#define ZFS_SPILL_ITEM_MIN 1024u
#define ZFS_SPILL_ITEM_MAX (1048576u - 4096u)	/* under memcached's 1 MiB item */
#define ZFS_SPILL_CONNECT_MS_DEFAULT 250u
#define ZFS_SPILL_POLL_MS_DEFAULT 500u
#define ZFS_SPILL_TIMEOUT_MS_MAX 60000u
#define ZFS_SPILL_RETRY_MS_DEFAULT 5000u
#define ZFS_SPILL_RETRY_MS_MAX 3600000u
#define ZFS_SPILL_THREADS_DEFAULT 2u
#define ZFS_SPILL_THREADS_MAX 64u
#define ZFS_SPILL_QUEUE_MAX_DEFAULT 256u
#define ZFS_SPILL_QUEUE_BYTES_DEFAULT (64u << 20)

/* One server of a list, as zfs_spill_parse_servers reads it. */
struct zfs_spill_addr {
	char host[ZFS_SPILL_HOST_MAX];	/* name, IPv4, or IPv6 without brackets */
	uint16_t port;
	int ipv6;			/* 1 when host is an IPv6 address */
};

/* Everything zfs_spill_create needs.  A zero field means its default
 * (above); `servers` is required.  The struct and the string are read
 * during zfs_spill_create only. */
struct zfs_spill_config {
	const char *servers;		/* "HOST[:PORT][+HOST[:PORT]...]" */
	uint64_t mount_id;		/* 0: draw a random non-zero one */
	uint32_t ttl_s;			/* item lifetime, 1 .. ZFS_SPILL_TTL_MAX */
	uint32_t item_size;		/* payload bytes per item */
	uint32_t connect_timeout_ms;	/* per connection attempt */
	uint32_t poll_timeout_ms;	/* per wait for a server to read or answer */
	uint32_t retry_ms;		/* a failed server is skipped this long */
	unsigned threads;		/* spill threads: stores and deletes */
	unsigned fetch_threads;		/* fetch threads */
	unsigned queue_max;		/* requests waiting, per queue */
	size_t queue_bytes;		/* image bytes waiting to be stored */
};

/* Parse a server list: elements separated by '+', each HOST or HOST:PORT,
 * where HOST is a host name (letters, digits, '-', '_', dot-separated
 * labels), a dotted IPv4 address, or an IPv6 address in brackets
 * ("[::1]:11211"); PORT is 1..65535 and defaults to 11211.  Fills out[0..]
 * (at most `max` entries; ZFS_SPILL_SERVERS_MAX always suffices) and
 * returns the number of servers (>= 1).  On error returns -EINVAL and,
 * when `err` is not NULL, writes one line naming the bad element, e.g.
 *     bad spill server "cache1:99999": port must be 1..65535
 * Rejected: an empty list or element, a bad port, a bad name or address, an
 * IPv6 address without brackets, a server listed twice, more than
 * ZFS_SPILL_SERVERS_MAX (or `max`) servers.  No name is resolved here
 * (the spill threads resolve them; a name that does not resolve makes that
 * server fail like a dead one).  Thread safe; touches nothing else. */
int zfs_spill_parse_servers(const char *list, struct zfs_spill_addr *out, size_t max,
			    char *err, size_t errlen);

/* Format one server as "host:port" or "[v6]:port" into buf (at least
 * ZFS_SPILL_NAME_MAX bytes suffice).  Returns the length written. */
int zfs_spill_format_addr(const struct zfs_spill_addr *a, char *buf, size_t len);

/* ---- life ------------------------------------------------------------ */

/* Validate `cfg`, build one libmemcached handle per thread and start the
 * threads.  Connects to nothing yet: servers are contacted by the first
 * request that needs them, so a dead cluster does not fail the create.
 * Returns the context, or NULL with errno set: EINVAL for a bad
 * configuration (then `err`, if not NULL, holds a one-line message naming
 * the bad field or server element), ENOMEM, or the error of
 * pthread_create. */
struct zfs_spill *zfs_spill_create(const struct zfs_spill_config *cfg, char *err, size_t errlen);

/* Stop: refuse new requests (-ESHUTDOWN), let each thread finish the
 * request it is running (bounded by the timeouts; its callback is called
 * as usual), join the threads, then complete every request still queued on
 * the calling thread: stores with done(arg, -ESHUTDOWN), fetches with
 * done(arg, -ESHUTDOWN, NULL, 0); queued deletes are dropped (the TTL
 * removes those items).  Frees everything.  zfs_spill_destroy(NULL) does
 * nothing.  No other call on `sp` may overlap or follow it. */
void zfs_spill_destroy(struct zfs_spill *sp);

/* The mount id in use (the one given, or the one drawn). */
uint64_t zfs_spill_mount_id(const struct zfs_spill *sp);

/* Items an image of `len` bytes is cut into: max(1, ceil(len / item_size)). */
uint32_t zfs_spill_nitems(const struct zfs_spill *sp, size_t len);

/* The key of item k of (ino, gen) into buf (ZFS_SPILL_KEY_MAX bytes
 * suffice); with k < 0, the image's group key (the key without ":<k>").
 * Returns the length written.  For tests and tools; thread safe. */
int zfs_spill_key(const struct zfs_spill *sp, uint64_t ino, uint64_t gen, int64_t k,
		  char *buf, size_t len);

/* ---- requests ---------------------------------------------------------- */

/* Completion of a store: ret is 0 when the cluster acknowledged every item
 * of the image, or a negative errno:
 *   -EHOSTDOWN  the server was down (skipped, refused or unreachable),
 *   -ETIMEDOUT  it did not answer within the timeouts,
 *   -ENOSPC     it had no memory for an item (or found it too large),
 *   -EIO        any other failure of the server or the connection,
 *   -ECANCELED  zfs_spill_delete named the image before it was stored,
 *   -ESHUTDOWN  zfs_spill_destroy ran before the store did.
 * On failure the items already set have been deleted (best effort; the TTL
 * removes whatever a delete could not).  From this call on the module no
 * longer touches the image. */
typedef void (*zfs_spill_store_fn)(void *arg, int ret);

/* Completion of a fetch: on ret == 0, `image` is a malloc()ed buffer of
 * exactly `len` bytes (the length the fetch asked for; not NULL even for
 * 0 bytes) holding the image byte for byte, and the callee owns it (free()).
 * Otherwise image is NULL, len 0 and ret is
 *   -ENOENT     the image is gone: an item missing or expired, any header
 *               field not this mount's, this image's or this item's (index,
 *               count, lengths), any checksum mismatch, any server error or
 *               a server down; never partial or wrong bytes,
 *   -ENOMEM     the buffer for the image could not be allocated,
 *   -ESHUTDOWN  zfs_spill_destroy ran before the fetch did. */
typedef void (*zfs_spill_fetch_fn)(void *arg, int ret, void *image, size_t len);

/* Queue the image (ino, gen) of `len` bytes for storing.  The module
 * BORROWS `image`: the caller keeps it allocated and unchanged until `done`
 * is called (exactly once, later, from a spill thread - never from within
 * this call), and frees its local copy only if done got 0; the module
 * never writes or frees it.  An (ino, gen) names one image: storing other
 * bytes under a name already stored is a caller bug (a rewritten file
 * takes a new generation), though a fetch still returns only bytes whose
 * checksums all agree.  Items live ttl seconds from their store.
 * Returns 0 when queued; otherwise `done` is never called and the return
 * is -EAGAIN (the queue holds queue_max requests or queue_bytes bytes
 * already: the caller should give up on spilling this file now), -EFBIG
 * (len > queue_bytes: it can never be queued), -ESHUTDOWN (destroy has
 * begun), -ENOMEM, or -EINVAL (done is NULL).  Thread safe. */
int zfs_spill_store(struct zfs_spill *sp, uint64_t ino, uint64_t gen, const void *image,
		    size_t len, zfs_spill_store_fn done, void *arg);

/* Queue a fetch of the image (ino, gen), whose length `len` the caller
 * remembers from its store (it fixes the item count, so the fetch is one
 * multi-get of every item: in batches of 64 items, 32 MiB at the default
 * item size, for larger images).  `done` is called exactly once, later,
 * from a fetch thread.  The remote copy stays (fetching does not delete).
 * Returns 0 when queued; otherwise `done` is never called and the return
 * is -EAGAIN (queue_max fetches waiting), -EFBIG (len could never have been
 * stored: over queue_bytes), -ESHUTDOWN, -ENOMEM, or -EINVAL (done is
 * NULL).  Thread safe. */
int zfs_spill_fetch(struct zfs_spill *sp, uint64_t ino, uint64_t gen, size_t len,
		    zfs_spill_fetch_fn done, void *arg);

/* Delete the image (ino, gen) of `len` bytes from the cluster, best effort
 * and asynchronously (no callback): for an unlinked, truncated or rewritten
 * file, or after a fetch that failed.  If a store of the same (ino, gen) is
 * still queued or running, it is cancelled instead (its done gets
 * -ECANCELED once whatever it had set is deleted); otherwise the image's
 * items are deleted by a spill thread, and the "now" figures drop by one
 * image of `len` bytes - so call it once per image whose store got 0 (or is
 * still pending), with the length given to that store.  A lost delete is
 * harmless: the items expire, and the next generation's keys differ.
 * Returns 0 when cancelled or queued; -EAGAIN (queue full: the delete is
 * dropped and counted), -ESHUTDOWN or -ENOMEM.  Thread safe. */
int zfs_spill_delete(struct zfs_spill *sp, uint64_t ino, uint64_t gen, size_t len);

/* Synchronous wrappers (tests, tools): queue the request and wait for its
 * completion.  They return what `done` would have got (0 or a negative
 * errno), or the queueing error; zfs_spill_fetch_sync stores the image in
 * *image (the caller frees it) on 0 and NULL otherwise.  Never call them
 * from a callback of this module. */
int zfs_spill_store_sync(struct zfs_spill *sp, uint64_t ino, uint64_t gen, const void *image,
			 size_t len);
int zfs_spill_fetch_sync(struct zfs_spill *sp, uint64_t ino, uint64_t gen, size_t len,
			 void **image);

/* ---- statistics -------------------------------------------------------- */

/* Every figure, declared once: X(name, description).  Counters ("ever")
 * only grow; "now" figures are gauges.  Each is one atomic word, read
 * without a lock, so a snapshot taken while requests run may be off by the
 * requests in flight (files_now and bytes_now never go below 0). */
#define ZFS_SPILL_STATS_FIELDS(X)						\
	X(files_now, "images acknowledged and not deleted since (the cluster"	\
		     " may have dropped some: TTL, LRU, a restarted server)")	\
	X(bytes_now, "bytes of those images")					\
	X(files_spilled, "images the cluster acknowledged, ever")		\
	X(bytes_spilled, "bytes of those images, ever")				\
	X(items_set, "items the cluster acknowledged, ever")			\
	X(store_errors, "stores that failed at a server, ever")			\
	X(store_cancelled, "stores cancelled by a delete of their image, ever")	\
	X(store_rejected, "stores refused at once: queue full, too large, shut down") \
	X(fetch_hits, "fetches that returned the image, ever")			\
	X(fetch_misses, "fetches that returned -ENOENT, ever")			\
	X(fetch_bytes, "bytes of the images returned, ever")			\
	X(fetch_rejected, "fetches refused at once: queue full, shut down")	\
	X(corrupt_items, "items with a bad header or checksum, ever")		\
	X(deletes, "delete requests carried out, ever")				\
	X(items_deleted, "items a server removed for them, ever")		\
	X(delete_dropped, "delete requests dropped: queue full or shut down")	\
	X(remote_errors, "requests a server failed or never answered, ever")	\
	X(timeouts, "of those, timeouts")					\
	X(server_skips, "requests not sent because their server was down, ever") \
	X(resends, "requests sent again on a new connection after the first"	\
		   " failed without a timeout (a connection closed by a"	\
		   " restarted server or an idle timeout), ever")		\
	X(queue_depth, "requests queued or running now")			\
	X(queue_bytes, "image bytes of stores queued or running now")

#define ZFS_SPILL_STATS_DECLARE(name, comment) uint64_t name;
struct zfs_spill_stats {
	ZFS_SPILL_STATS_FIELDS(ZFS_SPILL_STATS_DECLARE)
};
#undef ZFS_SPILL_STATS_DECLARE

/* Fill *out with every figure (see ZFS_SPILL_STATS_FIELDS).  Lock free. */
void zfs_spill_stats(struct zfs_spill *sp, struct zfs_spill_stats *out);

enum zfs_spill_server_state {
	ZFS_SPILL_SERVER_UP,		/* its last request got an answer (or none yet) */
	ZFS_SPILL_SERVER_DOWN,		/* failed: requests skip it for retry_in_ms */
	ZFS_SPILL_SERVER_RETRYING,	/* failed, retry time passed: the next request probes it */
};

/* "up", "down", "retrying" (or "?"). */
const char *zfs_spill_server_state_name(enum zfs_spill_server_state st);

/* One server's state, as zfs_spill_servers reports it. */
struct zfs_spill_server {
	char name[ZFS_SPILL_NAME_MAX];	/* "host:port" or "[v6]:port" */
	enum zfs_spill_server_state state;
	uint32_t retry_in_ms;		/* DOWN: time until the next probe; else 0 */
	uint64_t requests;		/* requests sent to it, ever */
	uint64_t errors;		/* of those, failed (connection, timeout, server error) */
	uint64_t skips;			/* requests not sent because it was down */
	char last_error[ZFS_SPILL_ERROR_MAX];	/* text of its last error, "" if none */
};

/* Fill out[0 .. min(n, servers)) with the servers in list order; returns
 * the number of servers (so n = 0 asks for the count).  Takes srv_lock. */
int zfs_spill_servers(struct zfs_spill *sp, struct zfs_spill_server *out, size_t n);

/* Verify the module's invariants (queue lists against their counters,
 * each request's fields, server records) under its locks; returns 0 or
 * -EUCLEAN, printing the first violation on stderr.  For tests. */
int zfs_spill_check(struct zfs_spill *sp);

/* ---- wire format (tests and tools read it) ----------------------------- */

#define ZFS_SPILL_MAGIC 0x5053435au	/* "ZCSP" read as little endian */
#define ZFS_SPILL_VERSION 1u
#define ZFS_SPILL_HEADER_SIZE 64u

/* The header in front of every item's payload, stored little endian.
 * header_crc covers the 60 bytes before it. */
struct zfs_spill_item_header {
	uint32_t magic;		/* ZFS_SPILL_MAGIC */
	uint16_t version;	/* ZFS_SPILL_VERSION */
	uint16_t header_size;	/* ZFS_SPILL_HEADER_SIZE */
	uint64_t mount_id;
	uint64_t ino;
	uint64_t gen;
	uint32_t index;		/* k */
	uint32_t count;		/* n */
	uint64_t total_len;	/* the image's length */
	uint32_t payload_len;	/* bytes after the header */
	uint32_t payload_crc;	/* CRC-32C of those bytes */
	uint32_t image_crc;	/* CRC-32C of the whole image */
	uint32_t header_crc;	/* CRC-32C of the header's first 60 bytes */
};
_Static_assert(sizeof(struct zfs_spill_item_header) == ZFS_SPILL_HEADER_SIZE,
	       "the item header is 64 bytes on the wire");

/* Encode / decode a header to / from its 64 wire bytes (decode does not
 * judge the fields; zfs_spill_encode_header computes header_crc). */
void zfs_spill_encode_header(const struct zfs_spill_item_header *h, void *wire);
void zfs_spill_decode_header(const void *wire, struct zfs_spill_item_header *h);

#endif /* ZC_FUSE_SPILL_H */
