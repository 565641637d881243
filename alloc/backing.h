/* backing.h - compressed objects kept in a file on disk: the store behind
 * the backing tier (cold pages written back, still compressed).
 *
 * Design
 * ------
 * A backing file holds opaque objects (compressed pages, up to
 * BACKING_OBJ_MAX bytes: a page, or a 64 KiB multi-page unit and its
 * header), each with a 64-bit tag of the caller's (e.g. a key) stored beside
 * it.  The file holds no state across opens: it is made empty at
 * backing_open and given back at backing_close, so nothing here ever parses
 * a file it did not write in this run.
 *
 * Segments.  The file is cut into segments of BACKING_SEG_SIZE (1 MiB).
 * Objects are packed into them as records, one after the other, and written
 * with O_DIRECT pwrites from aligned buffers (alloc/buddy blocks), so the
 * page cache never holds a second copy of what zcached moved out of RAM.
 * A segment is only ever appended to; records never move inside it.  A
 * segment whose records have all been freed is dead: its number goes back
 * to the free list (the lowest free number is reused first, so the file
 * stays as short as it can) and its disk space is punched out
 * (fallocate PUNCH_HOLE | KEEP_SIZE) later, outside every lock readers or
 * frees take: by backing_trim, by the end of backing_compact, and a few at
 * a time (BACKING_TRIM_PER_WRITE) by the end of each backing_write, since a
 * punch can take milliseconds (ext4 mounted with discard: about 4 ms).
 * Segments that stay sparse are rewritten by backing_compact.
 *
 * Why 1 MiB.  The segment is the unit of allocation, of hole punching and
 * of compaction, and the largest pwrite.  A record never straddles two
 * segments, so the space left at a segment's end when the next record does
 * not fit is lost until the segment dies or is compacted: with 64 KiB units
 * that tail averages 32 KiB, 3% of 1 MiB (12% of 256 KiB); with ~2 KiB pages
 * it is negligible either way (a write also fills a segment's tail with
 * later objects of its batch that do fit).  1 MiB pwrites reach a disk's
 * sequential bandwidth (HDDs included), and 1024 segments per GiB keep the
 * per-segment metadata small.  The price is coarser compaction (half a
 * segment, 512 KiB, moved to free one) and fewer segments that die on
 * their own when frees are random; the writeback of an LRU's cold end
 * frees together what it wrote together, which is what makes segments die.
 *
 * Records.  Each record is a BACKING_HDR_SIZE (24-byte) header and the
 * payload, rounded up to 16 bytes:
 *
 *     magic (4) | payload length (4) | tag (8) | position (4) | crc (4) | payload | pad
 *
 * The position is (segment << 16 | offset / 16), truncated to 32 bits, so a
 * record read from the wrong place is caught; the crc is a CRC-32C over the
 * header's first 20 bytes and the payload.  A read checks all of it
 * against the location and the caller's tag and returns -EIO on any
 * mismatch: never another object's bytes, never zeros.
 *
 * Locations.  A write returns one 64-bit location per object; it fits in
 * BACKING_LOC_BITS (56) bits, so its top 8 bits are zero and an owner can
 * keep it in a handle beside a few bits of its own:
 *
 *     bits 12..0   record length in 16-byte units (2 .. BACKING_REC_UNITS_MAX)
 *     bits 28..13  record offset in the segment, in 16-byte units (16 bits)
 *     bits 55..29  segment number (27 bits: 2^27 x 1 MiB = 128 TiB of file)
 *
 * 0 is never a location (a record is at least 2 units long).  The length in
 * the location lets a read fetch the record with one pread.
 *
 * When an object is stored.  backing_write is write-through: when it
 * returns 0, every object of the call is on disk (a pwrite returned; there
 * is no fsync, as nothing survives a crash anyway) and readable at its
 * location; nothing of it is held in memory.  The segment a write ends in
 * stays open: the next write appends to it, starting at the next multiple
 * of the file's O_DIRECT alignment (512 bytes on most disks, 4096 at most),
 * so a write never rewrites a block that holds acknowledged records and a
 * failed pwrite can only damage space no location points to.  The cost is
 * the padding at the end of each call (half an alignment unit on average;
 * 0.2% of a batch of 64 compressed pages with 512-byte alignment) and the
 * size of the pwrites, one per segment a call touches: callers should
 * hand over batches of about a segment's worth (bench/backing on a virtio
 * disk: batches of 64 compressed pages wrote at 450-570 MB/s, of ~1 MiB at
 * 560-820 MB/s, where plain 1 MiB O_DIRECT pwrites reached 1.1-1.7 GB/s;
 * the copy and CRC, a third of a CPU, do not overlap the I/O).
 *
 * Failure.  A backing_write that fails stores nothing: -ENOSPC when the
 * limit, the write budget or the filesystem is full, -EIO when a pwrite
 * fails; no location is returned, the objects stay the caller's, and
 * everything stored before stays readable.  A read that fails (pread error,
 * short read, any header or crc mismatch) returns -EIO.
 *
 * Memory.  Per segment in use, 32 bytes plus 4 bytes per record (a table of
 * offsets, lengths and live bits, needed to free, check and compact; the
 * open segment's grows by doubling and shrinks to size when sealed).  One
 * 1 MiB write buffer (buddy), a second one once backing_compact has run,
 * and a small read buffer (buddy) per read in flight.  With the ~2.3 KiB
 * records of lz4-compressed pages that is about 1.8 MB of RAM per GB held
 * in the file (backing_stats' meta_bytes; bench/backing measures it).
 *
 * Threads and locks
 * -----------------
 * Every function may be called from any thread concurrently, except
 * backing_open and backing_close.  Three mutexes:
 *
 *   b->compact_lock  serializes backing_compact calls; held while calling
 *                    the owner's relocate function.
 *   b->wlock         serializes writers: backing_write, the write phase of
 *                    backing_compact and backing_trim.  Held across the
 *                    pwrite (and the hole punches), so writers queue
 *                    behind one another; readers and frees never take it.
 *   b->lock          the segment table, the record tables, the free list
 *                    and the counters.  Held only for short, bounded work,
 *                    never across I/O or a call into the owner.
 *
 * Lock order: compact_lock -> wlock -> lock.  buddy->lock (buffers) is
 * taken with at most compact_lock and wlock held, never under b->lock.
 *
 * Readahead: a thread that reads records of a segment in order (a file's
 * pages read back as they were written back) reads a window of up to
 * 256 KiB at once into a buffer of its own (freed when the thread exits)
 * and serves the following records from it, each verified as if read from
 * the disk; the window is dropped as soon as any segment is released, so
 * it never serves a reused segment's old bytes.  Reads out of order read
 * their record alone (bench/backing_tier.sh on a shared VM: a cold file
 * read back at 0.67-1.39x the rate of the same bytes read from a plain
 * file on the disk, best of three reads each, against 0.3x with one pread
 * a record).
 *
 * Readers do their I/O with no lock held: backing_read takes b->lock to
 * pin the location's segment (a reference count), drops it, preads, and
 * takes it again to unpin.  A pinned segment is never reused, so its
 * records stay on disk even if freed meanwhile; its number returns to the
 * free list when the last reference goes.  An owner that reads outside its
 * own lock (tmem: bucket lock held to find the location, I/O after
 * dropping it) pins the location under its lock with backing_pin, so that
 * a concurrent free or relocation cannot let the segment be reused before
 * the read, and unpins after backing_read.
 *
 * Errors: functions return 0 or a positive value on success and a negative
 * errno on failure; a failed call changes nothing apart from the failure
 * counters.
 */
#ifndef ZC_ALLOC_BACKING_H
#define ZC_ALLOC_BACKING_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct buddy;
struct backing;

#define BACKING_SEG_SHIFT 20u
#define BACKING_SEG_SIZE ((uint32_t)1 << BACKING_SEG_SHIFT)	/* 1 MiB */
#define BACKING_UNIT 16u				/* record alignment */
#define BACKING_HDR_SIZE 24u				/* record header */
#define BACKING_OBJ_MAX (65536u + 1024u)		/* largest object */
#define BACKING_MIN_SEGMENTS 4u				/* smallest limit, in segments */

/* Location layout (see above). */
#define BACKING_LOC_BITS 56u
#define BACKING_LOC_UNITS_BITS 13u
#define BACKING_LOC_OFF_BITS 16u
#define BACKING_LOC_SEG_BITS 27u
#define BACKING_MAX_SEGMENTS ((uint32_t)1 << BACKING_LOC_SEG_BITS)
#define BACKING_REC_UNITS_MAX ((BACKING_HDR_SIZE + BACKING_OBJ_MAX + BACKING_UNIT - 1) / BACKING_UNIT)
_Static_assert(BACKING_LOC_UNITS_BITS + BACKING_LOC_OFF_BITS + BACKING_LOC_SEG_BITS ==
	       BACKING_LOC_BITS, "the location fields tile its 56 bits");
_Static_assert(BACKING_REC_UNITS_MAX < (1u << BACKING_LOC_UNITS_BITS),
	       "the largest record's length fits the location");
_Static_assert(BACKING_SEG_SIZE / BACKING_UNIT == (1u << BACKING_LOC_OFF_BITS),
	       "every offset in a segment fits the location");

/* The segment, offset (bytes) and record length (bytes, header and padding
 * included: what the object takes in the file) named by a location. */
static inline uint32_t backing_loc_seg(uint64_t loc)
{
	return (uint32_t)(loc >> (BACKING_LOC_UNITS_BITS + BACKING_LOC_OFF_BITS));
}

static inline uint32_t backing_loc_off(uint64_t loc)
{
	return (uint32_t)((loc >> BACKING_LOC_UNITS_BITS) & ((1u << BACKING_LOC_OFF_BITS) - 1)) *
	       BACKING_UNIT;
}

static inline uint32_t backing_loc_bytes(uint64_t loc)
{
	return (uint32_t)(loc & ((1u << BACKING_LOC_UNITS_BITS) - 1)) * BACKING_UNIT;
}

/* Set when opening; NULL means every default. */
struct backing_config {
	struct buddy *buddy;	/* I/O buffers come from here (NULL: a private
				   allocator made by backing_open); must outlive
				   the backing file */
	uint64_t write_budget;	/* bytes writes may still put in the file, like
				   zram's writeback_limit (BACKING_BUDGET_NONE:
				   no budget) */
};
#define BACKING_BUDGET_NONE UINT64_MAX
#define BACKING_CONFIG_DEFAULT { .buddy = NULL, .write_budget = BACKING_BUDGET_NONE }

/* One object for backing_write.  Its payload is data's len bytes followed
 * by tail's tail_len bytes (an owner's key after its form, with no copy to
 * join them); a reader gets the payload back as one run of bytes. */
struct backing_obj {
	const void *data;	/* len bytes, any alignment */
	uint32_t len;		/* 1 .. BACKING_OBJ_MAX (with tail_len) */
	uint64_t tag;		/* stored beside it; backing_read checks it */
	const void *tail;	/* tail_len bytes appended to data (NULL: none) */
	uint32_t tail_len;	/* 0 .. BACKING_OBJ_MAX - len */
};

/* ---- statistics -----------------------------------------------------------
 *
 * Declared once; expand BACKING_STATS_FIELDS(X) with X(name, comment) for
 * the struct, a printer or a renderer.  Every figure is exact (filled
 * under b->lock). */
#define BACKING_STATS_FIELDS(X)							\
	X(objects, "objects held now")						\
	X(live_bytes, "file bytes of their records (headers, padding)")	\
	X(segments_used, "segments holding records, open ones included")	\
	X(segments_free, "free segments below the file's end (holes)")	\
	X(segments_open, "segments open for appending (0 or 1)")		\
	X(segments_limit, "segments the limit allows (0: no limit)")		\
	X(file_bytes, "the file's size: end of the last byte written")	\
	X(disk_bytes, "bytes of the file not punched out: used segments")	\
	X(meta_bytes, "RAM this module holds: tables and I/O buffers")	\
	X(reads, "objects read, ever")						\
	X(read_bytes, "payload bytes of those reads")				\
	X(writes, "objects written by backing_write, ever")			\
	X(write_bytes, "bytes put in the file (records, padding), ever")	\
	X(write_calls, "pwrites issued, ever")					\
	X(frees, "objects freed, ever (compaction's included)")		\
	X(read_failures, "reads that returned -EIO (pread or verification)")	\
	X(write_failures, "writes that failed on a pwrite (EIO, ENOSPC)")	\
	X(checksum_failures, "records that did not verify (reads, compaction)") \
	X(enospc, "writes refused for the limit, the budget or a full disk")	\
	X(holes_punched, "dead segments punched out of the file, ever")	\
	X(compactions, "segments emptied by backing_compact, ever")		\
	X(compact_bytes, "record bytes moved by compaction, ever")		\
	X(compact_reclaimed, "file bytes compaction gave back, ever: the emptied segments' written bytes less what their records took again") \
	X(sparse_bytes, "dead bytes in sealed segments compaction would take now (live at most BACKING_COMPACT_LIVE_MAX)") \
	X(budget_left, "bytes writes may still put in the file (UINT64_MAX: no budget)")

#define BACKING_STATS_DECLARE(name, comment) uint64_t name;
struct backing_stats {
	BACKING_STATS_FIELDS(BACKING_STATS_DECLARE)
};
#undef BACKING_STATS_DECLARE

/* ---- opening and closing ---------------------------------------------- */

/* Open a backing file at `path`:
 *   - a directory: an unnamed file is made in it (O_TMPFILE, mode 0600); it
 *     disappears when closed, or when the process dies;
 *   - a regular file: it is used, locked (flock, exclusive: a second
 *     backing_open of the same file fails with -EBUSY) and truncated to 0 at
 *     once (a backing file holds no state across mounts, and whatever it
 *     held is not ours to read); backing_close truncates it to 0 again.
 * `limit_bytes` caps the file at limit_bytes / BACKING_SEG_SIZE segments
 * (at least BACKING_MIN_SEGMENTS); 0: no cap but the filesystem's.  One
 * segment of the limit is kept for backing_compact (ordinary writes can
 * fill one fewer), so compaction can always make progress.
 *
 * Refused, with one line in `err` (NUL-terminated, truncated to `errlen`;
 * err may be NULL) naming the path and the reason:
 *   - a path on tmpfs (statfs; tmpfs has O_DIRECT since Linux 6.6, so the
 *     probe below would not catch it): -EINVAL;
 *   - a path on any FUSE filesystem, a zcached mount (fuse.zcached)
 *     included: writeback frees memory, and a FUSE server is a process that
 *     may need memory to make progress, or is zcached itself; the kernel
 *     refuses swap files there for the same reason: -EINVAL;
 *   - a path where O_DIRECT does not work (ramfs, procfs, many network
 *     filesystems): the file is opened with O_DIRECT and one aligned block
 *     written and read back; whatever fails is reported with its errno;
 *   - a directory where no unnamed file can be made (no O_TMPFILE): that
 *     errno;
 *   - neither a directory nor a regular file (-EINVAL), a missing path
 *     (-ENOENT: a named file must exist), a file locked by another opener
 *     (-EBUSY);
 *   - a limit below BACKING_MIN_SEGMENTS segments: -EINVAL.
 * Returns the backing file, or NULL with errno set (and, for ENOMEM, a line
 * in err too).  Filesystems that cannot punch holes are accepted: dead
 * segments are then only reused, and holes_punched stays 0. */
struct backing *backing_open(const char *path, uint64_t limit_bytes,
			     const struct backing_config *config, char *err, size_t errlen);

/* Close the file (an unnamed one vanishes; a named one is truncated to 0)
 * and free everything, whether or not objects are still held.
 * backing_close(NULL) does nothing.  No other call may run concurrently or
 * afterwards. */
void backing_close(struct backing *b);

/* ---- objects ------------------------------------------------------------ */

/* Store objs[0..n) and put their locations in locs[0..n).  The records are
 * packed into the open segment and, as needed, into free segments (lowest
 * number first) or new ones at the file's end; a record goes where it fits
 * first, so later small objects may fill a segment's tail before an earlier
 * large one that did not fit.  One O_DIRECT pwrite per segment touched.
 * Write-through: on return every object is on disk and readable (see
 * "When an object is stored").  Ends by punching out up to
 * BACKING_TRIM_PER_WRITE dead segments (see backing_trim).
 * Returns 0 (n == 0 too); on failure nothing is stored and locs is not
 * written:
 *   -EINVAL  an object of length 0 or over BACKING_OBJ_MAX, or NULL data;
 *   -ENOSPC  the segments needed are beyond the limit (less the segment kept
 *            for compaction), or the bytes to write beyond the budget, or
 *            the filesystem reported ENOSPC, EDQUOT or EFBIG;
 *   -EIO     a pwrite failed otherwise or was short (or was made to fail,
 *            see fault injection);
 *   -ENOMEM  the record table of a new segment could not be allocated.
 * Thread safe: writers queue on b->wlock; reads and frees go on meanwhile. */
int backing_write(struct backing *b, const struct backing_obj *objs, size_t n, uint64_t *locs);

/* Read the object at `loc` into buf (cap bytes) after checking that the
 * record there is whole and is the caller's: its magic, position and
 * length must match `loc`, its tag must equal `tag`, its CRC-32C must
 * match.  One pread of the record's aligned span (or, for a read that
 * follows the thread's last one in the segment, of a readahead window;
 * none when the record is in the thread's window), with no lock held
 * (b->lock is taken briefly before and after to pin the segment).
 * Returns the payload length (> 0), or
 *   -EINVAL     loc is malformed (zero length, beyond the segment, beyond
 *               the limit);
 *   -ESTALE     loc names no stored record: its segment is free or was not
 *               written that far (an object freed, its segment dead; an owner
 *               that pins under its own lock never sees this);
 *   -EOVERFLOW  the payload is longer than cap (nothing is copied);
 *   -EIO        the pread failed or was short, or the record did not verify
 *               (counted in checksum_failures); buf is then unspecified;
 *   -ENOMEM     no read buffer.
 * A record freed while pinned still reads back (its bytes stay until the
 * segment is reused, which a pin prevents).  Thread safe; any number of
 * reads run in parallel with each other and with writes. */
int backing_read(struct backing *b, uint64_t loc, uint64_t tag, void *buf, size_t cap);

/* Pin loc's segment: it is not reused (nor its space punched) until the
 * matching backing_unpin, even if every record in it is freed.  Pins nest
 * and may be taken by several threads.  Takes b->lock briefly, so it may be
 * called under the owner's own locks (order: owner's lock -> b->lock).
 * Returns 0, -EINVAL for a malformed loc, -ESTALE for a loc whose record is
 * not live (never written or freed). */
int backing_pin(struct backing *b, uint64_t loc);

/* Drop a pin taken by backing_pin.  When a segment's last pin goes and it
 * holds no live record, its number returns to the free list.  Dropping a
 * pin nobody holds is a caller bug: it prints the segment and aborts. */
void backing_unpin(struct backing *b, uint64_t loc);

/* Free the object at loc: its record becomes dead, its segment's live bytes
 * drop, and a sealed segment left with none (and no pin) returns to the free
 * list, its space punched out by the next backing_trim.  O(log records in
 * the segment) under b->lock; no I/O.  Returns 0, or -EINVAL when loc names
 * no live record (malformed, never written, already freed): nothing
 * changes then. */
int backing_free(struct backing *b, uint64_t loc);

/* ---- space -------------------------------------------------------------- */

/* The owner's side of a relocation: the object `tag` that the owner held at
 * old_loc has been copied to new_loc; `data` is its payload (len bytes,
 * valid for the call only: a key the owner wrote into it tells it where the
 * object belongs, so no table in RAM maps records to owners).  Under its
 * own lock, the owner takes
 * new_loc (returns true) if it still holds old_loc for `tag`, and then
 * forgets old_loc, which backing_compact frees; otherwise (the object was
 * freed or rewritten meanwhile) it returns false and backing_compact frees
 * the copy.  Called with compact_lock held and no other lock of this
 * module: it may call backing_read, _pin, _unpin, _free (of other
 * locations, or of old_loc before returning false), _write, _stats and
 * _check, never backing_compact or backing_close. */
typedef bool (*backing_relocate_fn)(void *arg, uint64_t tag, const void *data, uint32_t len,
				    uint64_t old_loc, uint64_t new_loc);

/* Live bytes at or under which a sealed segment is a compaction victim:
 * half a segment.  Moving a victim's live half costs as many bytes written
 * as it frees (write amplification at most 1: each MiB given back costs at
 * most a MiB read and a MiB written); a denser segment would cost more
 * than it gains, and the segments that stay above half live waste at most
 * half the file.  A sparser threshold would leave more dead space for less
 * I/O; a denser one would rewrite mostly live data to win little. */
#define BACKING_COMPACT_LIVE_MAX (BACKING_SEG_SIZE / 2)

/* Rewrite the live records of sparse segments into the open segment and
 * new ones, so the sparse ones die.  Victims are the sealed segments with
 * at most BACKING_COMPACT_LIVE_MAX live bytes (never the open one, never
 * one where a record failed to verify), sparsest first, as long as their
 * live bytes together stay within `budget` bytes (SIZE_MAX: all).  Each
 * victim is read with one pread, its live records verified (one that does
 * not verify stays where it is and is counted in checksum_failures; its
 * segment is never picked again), written with the ordinary write path
 * (it may use the segment the limit keeps for compaction; its bytes count
 * against the write budget) and offered to the owner one by one through
 * relocate (see backing_relocate_fn).  Ends with backing_trim.
 * Returns the number of victims emptied (0 when none qualified), or the
 * error that stopped it: -ENOSPC (no room or budget to write a victim's
 * records), -EIO (a victim's pread or a pwrite failed), -ENOMEM.  Victims
 * finished before the error stay compacted; the failing victim's records
 * stay where they were (copies already written are freed, never offered).
 * Thread safe (one compaction at a time); the owner's reads, writes and
 * frees go on meanwhile.  Do not call it with a lock relocate takes. */
int backing_compact(struct backing *b, size_t budget, backing_relocate_fn relocate, void *arg);

/* Dead segments a backing_write punches out at its end, at most. */
#define BACKING_TRIM_PER_WRITE 8

/* Punch out the space of every dead segment not punched yet (an owner that
 * frees much and writes little calls it now and then, e.g. from its
 * writeback thread).  Takes b->wlock (so it waits for a write in progress,
 * and writes wait for it).  Returns the number of segments punched (0 when
 * the filesystem cannot punch holes). */
int backing_trim(struct backing *b);

/* Set the write budget: `bytes` more may be written from now
 * (BACKING_BUDGET_NONE: no budget).  Thread safe. */
void backing_budget_set(struct backing *b, uint64_t bytes);

/* ---- introspection ------------------------------------------------------ */

/* Fill *out with the counters (a consistent snapshot taken under b->lock). */
void backing_stats(struct backing *b, struct backing_stats *out);

/* Verify every invariant under wlock and lock: each segment's state agrees
 * with the free list and the open-segment pointer; a free segment has no
 * record, pin or bytes; record tables are sorted, non-overlapping, aligned
 * and within what was written; each segment's live bytes equal the sum of
 * its live records; a sealed segment with no live record is pinned or
 * being compacted; no segment lies beyond the limit; the counters (objects,
 * live bytes, segments used/free/open, memory) equal what the walk finds.
 * Returns 0, or -EUCLEAN after printing the first violation to stderr.
 * O(segments + records). */
int backing_check(struct backing *b);

/* ---- fault injection (test builds) --------------------------------------
 *
 * Builds with ZC_DEBUG can make chosen preads and pwrites of a backing file
 * fail with EIO, to drive every caller's I/O error path.  backing_open reads
 * ZC_FAULT_BACKING_READ (preads of backing_read and backing_compact) and
 * ZC_FAULT_BACKING_WRITE (pwrites of backing_write and backing_compact; the
 * O_DIRECT probe at open is not counted), each "N" (the Nth call from then
 * on fails) or "N/M" (and every Mth after it), as alloc/fault.h describes.
 * An injected failure is an ordinary one (-EIO, counted in read_failures or
 * write_failures).  Builds without ZC_DEBUG ignore the variables. */
enum backing_fault {
	BACKING_FAULT_READ,
	BACKING_FAULT_WRITE,
};

/* Re-arm one countdown from now (nth 0: off).  Returns 0, or -EOPNOTSUPP in
 * builds without ZC_DEBUG (nothing happens), -EINVAL for a bad `which`. */
int backing_fault_set(struct backing *b, enum backing_fault which, uint64_t nth, uint64_t every);

/* Failures injected so far into preads (BACKING_FAULT_READ) or pwrites (0
 * without ZC_DEBUG). */
uint64_t backing_fault_count(struct backing *b, enum backing_fault which);

#endif /* ZC_ALLOC_BACKING_H */
