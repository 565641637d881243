/* spill_wire.c - the far tier's wire format: the item header's encoding
 * (checked with CRC-32C, alloc/crc32c.h) and the server lists of the
 * spill= option (see spill.h for the contract and the format).
 *
 * Design.  Everything here is a pure function of its arguments, shared by
 * the client (spill.c), its suite and its benchmark.  The header is
 * written field by field in little-endian order, so its layout does not
 * depend on the compiler's.  A server list is parsed completely before it
 * is used: every entry checked (host name or address, port), the first
 * error worded into the caller's buffer.
 */
#include "fuse/spill.h"
#include "fuse/spill_int.h"

#include "alloc/crc32c.h"

#include <arpa/inet.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- wire format ----------------------------------------------------------- */

static void put16(unsigned char *p, uint16_t v)
{
	p[0] = (unsigned char)v;
	p[1] = (unsigned char)(v >> 8);
}

static void put32(unsigned char *p, uint32_t v)
{
	for (int i = 0; i < 4; i++)
		p[i] = (unsigned char)(v >> (8 * i));
}

static void put64(unsigned char *p, uint64_t v)
{
	for (int i = 0; i < 8; i++)
		p[i] = (unsigned char)(v >> (8 * i));
}

static uint16_t get16(const unsigned char *p)
{
	return (uint16_t)(p[0] | (p[1] << 8));
}

static uint32_t get32(const unsigned char *p)
{
	uint32_t v = 0;

	for (int i = 3; i >= 0; i--)
		v = (v << 8) | p[i];
	return v;
}

static uint64_t get64(const unsigned char *p)
{
	uint64_t v = 0;

	for (int i = 7; i >= 0; i--)
		v = (v << 8) | p[i];
	return v;
}

void zfs_spill_encode_header(const struct zfs_spill_item_header *h, void *wire)
{
	unsigned char *p = wire;

	put32(p + 0, h->magic);
	put16(p + 4, h->version);
	put16(p + 6, h->header_size);
	put64(p + 8, h->mount_id);
	put64(p + 16, h->ino);
	put64(p + 24, h->gen);
	put32(p + 32, h->index);
	put32(p + 36, h->count);
	put64(p + 40, h->total_len);
	put32(p + 48, h->payload_len);
	put32(p + 52, h->payload_crc);
	put32(p + 56, h->image_crc);
	put32(p + 60, crc32c(0, p, 60));
}

void zfs_spill_decode_header(const void *wire, struct zfs_spill_item_header *h)
{
	const unsigned char *p = wire;

	h->magic = get32(p + 0);
	h->version = get16(p + 4);
	h->header_size = get16(p + 6);
	h->mount_id = get64(p + 8);
	h->ino = get64(p + 16);
	h->gen = get64(p + 24);
	h->index = get32(p + 32);
	h->count = get32(p + 36);
	h->total_len = get64(p + 40);
	h->payload_len = get32(p + 48);
	h->payload_crc = get32(p + 52);
	h->image_crc = get32(p + 56);
	h->header_crc = get32(p + 60);
}

/* ---- server lists ---------------------------------------------------------- */

/* The configuration errors' one formatter (spill_int.h), for both files. */
int _zfs_spill_fail(char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;

	if (err && errlen) {
		va_start(ap, fmt);
		vsnprintf(err, errlen, fmt, ap);
		va_end(ap);
	}
	return -EINVAL;
}

/* A host name: dot-separated labels of 1..63 letters, digits, '-' or '_',
 * no label starting or ending with '-'; at most 253 bytes. */
static const char *check_hostname(const char *h)
{
	size_t label = 0;
	char prev = '.';

	if (strlen(h) > 253)
		return "host name longer than 253 bytes";
	for (const char *p = h;; p++) {
		char c = *p;

		if (c == '.' || c == '\0') {
			if (label == 0)
				return "empty label in host name";
			if (prev == '-')
				return "host name label ends with '-'";
			if (c == '\0')
				return NULL;
			label = 0;
		} else if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
			   (c >= '0' && c <= '9') || c == '_' || c == '-') {
			if (c == '-' && label == 0)
				return "host name label starts with '-'";
			if (++label > 63)
				return "host name label longer than 63 bytes";
		} else {
			return "bad character in host name";
		}
		prev = c;
	}
}

static const char *parse_port(const char *s, uint16_t *port)
{
	unsigned long v = 0;

	if (!*s)
		return "empty port";
	for (const char *p = s; *p; p++) {
		if (*p < '0' || *p > '9')
			return "port must be a number 1..65535";
		v = v * 10 + (unsigned long)(*p - '0');
		if (v > 65535)
			return "port must be 1..65535";
	}
	if (v == 0)
		return "port must be 1..65535";
	*port = (uint16_t)v;
	return NULL;
}

/* Parse one element (NUL-terminated) into *a; returns NULL or why not. */
static const char *parse_one(const char *s, struct zfs_spill_addr *a)
{
	const char *colon, *why;
	size_t hlen;

	memset(a, 0, sizeof(*a));
	a->port = ZFS_SPILL_DEFAULT_PORT;
	if (s[0] == '[') {
		const char *end = strchr(s, ']');
		unsigned char bin[16];

		if (!end)
			return "missing ']' after an IPv6 address";
		hlen = (size_t)(end - s - 1);
		if (hlen == 0 || hlen >= sizeof(a->host))
			return "bad IPv6 address";
		memcpy(a->host, s + 1, hlen);
		a->host[hlen] = '\0';
		if (inet_pton(AF_INET6, a->host, bin) != 1)
			return "bad IPv6 address";
		a->ipv6 = 1;
		if (end[1] == '\0')
			return NULL;
		if (end[1] != ':')
			return "expected ':PORT' after ']'";
		return parse_port(end + 2, &a->port);
	}
	colon = strchr(s, ':');
	if (colon && strchr(colon + 1, ':'))
		return "an IPv6 address goes in brackets, as [::1]:11211";
	hlen = colon ? (size_t)(colon - s) : strlen(s);
	if (hlen == 0)
		return "empty host";
	if (hlen >= sizeof(a->host))
		return "host name longer than 253 bytes";
	memcpy(a->host, s, hlen);
	a->host[hlen] = '\0';
	if (strspn(a->host, "0123456789.") == hlen) {
		struct in_addr in;

		if (inet_pton(AF_INET, a->host, &in) != 1)
			return "bad IPv4 address";
	} else if ((why = check_hostname(a->host))) {
		return why;
	}
	if (colon && (why = parse_port(colon + 1, &a->port)))
		return why;
	return NULL;
}

int zfs_spill_format_addr(const struct zfs_spill_addr *a, char *buf, size_t len)
{
	int n = snprintf(buf, len, a->ipv6 ? "[%s]:%u" : "%s:%u", a->host, (unsigned)a->port);

	return n < 0 ? 0 : n;
}

int zfs_spill_parse_servers(const char *list, struct zfs_spill_addr *out, size_t max,
			    char *err, size_t errlen)
{
	const char *p = list;
	size_t n = 0;

	if (!list || !*list)
		return _zfs_spill_fail(err, errlen, "empty spill server list");
	for (;;) {
		const char *plus = strchr(p, '+');
		size_t elen = plus ? (size_t)(plus - p) : strlen(p);
		char elem[ZFS_SPILL_NAME_MAX];
		struct zfs_spill_addr a;
		const char *why;

		if (elen == 0)
			return _zfs_spill_fail(err, errlen,
					       "empty server in spill server list \"%s\"", list);
		if (elen >= sizeof(elem))
			return _zfs_spill_fail(err, errlen,
					       "bad spill server \"%.*s...\": longer than %d bytes",
					       40, p, ZFS_SPILL_NAME_MAX - 1);
		memcpy(elem, p, elen);
		elem[elen] = '\0';
		why = parse_one(elem, &a);
		if (why)
			return _zfs_spill_fail(err, errlen, "bad spill server \"%s\": %s", elem,
					       why);
		for (size_t i = 0; i < n; i++)
			if (out[i].port == a.port && out[i].ipv6 == a.ipv6 &&
			    !strcasecmp(out[i].host, a.host))
				return _zfs_spill_fail(err, errlen,
						       "bad spill server \"%s\": listed twice", elem);
		if (n == max || n == ZFS_SPILL_SERVERS_MAX)
			return _zfs_spill_fail(err, errlen,
					       "bad spill server \"%s\": more than %zu servers", elem,
					       max < ZFS_SPILL_SERVERS_MAX ? max : (size_t)ZFS_SPILL_SERVERS_MAX);
		out[n++] = a;
		if (!plus)
			break;
		p = plus + 1;
	}
	return (int)n;
}
