/* fuse_uring_kernel.h - the FUSE-over-io_uring protocol (kernel ABI 7.42,
 * Linux 6.14 and later), which Debian bookworm's <linux/fuse.h> (ABI 7.38)
 * predates.
 *
 * Written for zcached from the kernel's documentation
 * (Documentation/filesystems/fuse/fuse-io-uring.rst), its uapi header
 * (include/uapi/linux/fuse.h) and fs/fuse/dev_uring.c, which is the
 * authority on how each field is used.  The names carry the prefix fuk_
 * ("fuse uring kernel") so that this header never clashes with a newer
 * <linux/fuse.h>; each says which kernel name it stands for.
 *
 * The protocol in one paragraph.  The INIT reply's flags2 carries
 * FUK_INIT_FLAGS2_OVER_IO_URING (the kernel offers it in INIT only when the
 * fuse module parameter enable_uring is Y).  The server then registers ring
 * entries: one IORING_OP_URING_CMD per entry on the /dev/fuse file, with
 * an SQE of 128 bytes (IORING_SETUP_SQE128), cmd_op FUK_CMD_REGISTER, a
 * struct fuk_cmd_req in the SQE's command area naming the queue (one queue
 * per possible CPU), and sqe->addr pointing at two iovecs: the entry's
 * header (struct fuk_req_header) and its payload buffer (at least
 * max(8192, max_write, max_pages * 4096) bytes).  The command completes
 * when the kernel has put a request in the entry: the fuse_in_header in
 * in_out, the opcode's fixed argument in op_in, the rest (names, write
 * data) in the payload, and the fuk_ent_in_out trailer.  The server
 * answers with FUK_CMD_COMMIT_AND_FETCH: fuse_out_header in in_out (unique
 * and error; len is ignored), the reply's body in the payload, its size in
 * the trailer's payload_sz, and the request's unique as commit_id in the
 * command area; the same command then waits for the entry's next request.
 * The kernel holds new requests until every queue has an entry.  At
 * unmount the parked commands complete with -ENOTCONN.  FORGET, INTERRUPT
 * and notifications stay on /dev/fuse.
 */
#ifndef ZC_FUSE_URING_KERNEL_H
#define ZC_FUSE_URING_KERNEL_H

#include <assert.h>
#include <stdint.h>

/* FUSE_OVER_IO_URING (1ULL << 41 of the 64-bit INIT flags): bit 9 of the
 * flags2 word of fuse_init_in (offered) and fuse_init_out (accepted). */
#define FUK_INIT_FLAGS2_OVER_IO_URING (1u << 9)

/* FUSE_INT_REQ_BIT (fs/fuse/fuse_dev_i.h, not in the uapi): ordinary
 * requests have even uniques; an INTERRUPT has the unique of the request
 * it names with this bit set. */
#define FUK_INT_REQ_BIT ((uint64_t)1 << 0)

/* enum fuse_uring_cmd: the cmd_op of an IORING_OP_URING_CMD SQE. */
enum fuk_cmd {
	FUK_CMD_INVALID = 0,
	FUK_CMD_REGISTER = 1,		/* FUSE_IO_URING_CMD_REGISTER */
	FUK_CMD_COMMIT_AND_FETCH = 2,	/* FUSE_IO_URING_CMD_COMMIT_AND_FETCH */
};

/* struct fuse_uring_ent_in_out: the trailer of an entry's header, written
 * by the kernel with a request and by the server with its reply. */
struct fuk_ent_in_out {
	uint64_t flags;			/* 0 */
	uint64_t commit_id;		/* the request's unique (kernel -> server) */
	uint32_t payload_sz;		/* valid bytes in the payload buffer */
	uint32_t padding;
	uint64_t reserved;
};

#define FUK_IN_OUT_HEADER_SZ 128	/* FUSE_URING_IN_OUT_HEADER_SZ */
#define FUK_OP_IN_OUT_SZ 128		/* FUSE_URING_OP_IN_OUT_SZ */

/* struct fuse_uring_req_header: iov[0] of REGISTER. */
struct fuk_req_header {
	char in_out[FUK_IN_OUT_HEADER_SZ];	/* fuse_in_header / fuse_out_header */
	char op_in[FUK_OP_IN_OUT_SZ];		/* the opcode's fixed argument */
	struct fuk_ent_in_out ring_ent_in_out;
};

/* struct fuse_uring_cmd_req: the SQE's command area (80 bytes with
 * IORING_SETUP_SQE128). */
struct fuk_cmd_req {
	uint64_t flags;			/* 0 */
	uint64_t commit_id;		/* COMMIT_AND_FETCH: the request's unique */
	uint16_t qid;			/* the queue: a possible CPU's number */
	uint8_t padding[6];
};

#define FUK_SQE128_CMD_AREA 80		/* bytes of sqe->cmd with SQE128 */

static_assert(sizeof(struct fuk_ent_in_out) == 32, "fuse_uring_ent_in_out is 32 bytes");
static_assert(sizeof(struct fuk_req_header) == 288, "fuse_uring_req_header is 288 bytes");
static_assert(sizeof(struct fuk_cmd_req) == 24, "fuse_uring_cmd_req is 24 bytes");
static_assert(sizeof(struct fuk_cmd_req) <= FUK_SQE128_CMD_AREA, "command area");

#endif /* ZC_FUSE_URING_KERNEL_H */
