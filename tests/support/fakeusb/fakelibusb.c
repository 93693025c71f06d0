/*
 * fakelibusb.c - a stand-in for libusb-1.0 that talks to emulated USB devices.
 *
 * Part of nutpy's test support (tests/support/fakeusb).  Built at test time into
 * libusb-1.0.so.0; a program started with LD_LIBRARY_PATH pointing at the build directory
 * loads it instead of the system libusb.  Every operation that would reach a device is sent
 * as one request over a Unix stream socket (path in $NUTPY_FAKEUSB_SOCKET) to the Python
 * controller that holds the device models (controller.py); this file keeps only what real
 * libusb keeps in memory: contexts, device objects with their cached descriptors, handles.
 *
 * The ABI (struct layouts, enum values, signatures) is libusb-1.0's, written out here so the
 * build needs nothing but a C compiler.  Symbols are unversioned, as in Debian's libusb.
 *
 * Wire format, little-endian, one request then one reply per connection at a time:
 *   request: u32 body length, body = u8 op, u8[3] zero, u32 pid, op arguments
 *   reply:   u32 body length, body = i32 status, op payload
 * Connections are pooled and carry no state, so several threads (or a parent and its
 * forked child) may each hold their own.  When the controller is unreachable the bus looks
 * empty and every handle reports LIBUSB_ERROR_NO_DEVICE, like a machine whose UPS was
 * unplugged.
 */

#define _GNU_SOURCE
#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#define API __attribute__((visibility("default")))

/* ---- libusb-1.0 ABI ---------------------------------------------------------------- */

enum {
	LIBUSB_SUCCESS = 0,
	LIBUSB_ERROR_IO = -1,
	LIBUSB_ERROR_INVALID_PARAM = -2,
	LIBUSB_ERROR_ACCESS = -3,
	LIBUSB_ERROR_NO_DEVICE = -4,
	LIBUSB_ERROR_NOT_FOUND = -5,
	LIBUSB_ERROR_BUSY = -6,
	LIBUSB_ERROR_TIMEOUT = -7,
	LIBUSB_ERROR_OVERFLOW = -8,
	LIBUSB_ERROR_PIPE = -9,
	LIBUSB_ERROR_INTERRUPTED = -10,
	LIBUSB_ERROR_NO_MEM = -11,
	LIBUSB_ERROR_NOT_SUPPORTED = -12,
	LIBUSB_ERROR_OTHER = -99,
};

#define DT_DEVICE 0x01
#define DT_CONFIG 0x02
#define DT_STRING 0x03
#define DT_INTERFACE 0x04
#define DT_ENDPOINT 0x05

struct libusb_device_descriptor {
	uint8_t bLength;
	uint8_t bDescriptorType;
	uint16_t bcdUSB;
	uint8_t bDeviceClass;
	uint8_t bDeviceSubClass;
	uint8_t bDeviceProtocol;
	uint8_t bMaxPacketSize0;
	uint16_t idVendor;
	uint16_t idProduct;
	uint16_t bcdDevice;
	uint8_t iManufacturer;
	uint8_t iProduct;
	uint8_t iSerialNumber;
	uint8_t bNumConfigurations;
};

struct libusb_endpoint_descriptor {
	uint8_t bLength;
	uint8_t bDescriptorType;
	uint8_t bEndpointAddress;
	uint8_t bmAttributes;
	uint16_t wMaxPacketSize;
	uint8_t bInterval;
	uint8_t bRefresh;
	uint8_t bSynchAddress;
	const unsigned char *extra;
	int extra_length;
};

struct libusb_interface_descriptor {
	uint8_t bLength;
	uint8_t bDescriptorType;
	uint8_t bInterfaceNumber;
	uint8_t bAlternateSetting;
	uint8_t bNumEndpoints;
	uint8_t bInterfaceClass;
	uint8_t bInterfaceSubClass;
	uint8_t bInterfaceProtocol;
	uint8_t iInterface;
	const struct libusb_endpoint_descriptor *endpoint;
	const unsigned char *extra;
	int extra_length;
};

struct libusb_interface {
	const struct libusb_interface_descriptor *altsetting;
	int num_altsetting;
};

struct libusb_config_descriptor {
	uint8_t bLength;
	uint8_t bDescriptorType;
	uint16_t wTotalLength;
	uint8_t bNumInterfaces;
	uint8_t bConfigurationValue;
	uint8_t iConfiguration;
	uint8_t bmAttributes;
	uint8_t MaxPower;
	const struct libusb_interface *interface;
	const unsigned char *extra;
	int extra_length;
};

struct libusb_version {
	const uint16_t major;
	const uint16_t minor;
	const uint16_t micro;
	const uint16_t nano;
	const char *rc;
	const char *describe;
};

struct libusb_iso_packet_descriptor {
	unsigned int length;
	unsigned int actual_length;
	int status;
};

struct libusb_transfer;
typedef void (*libusb_transfer_cb_fn)(struct libusb_transfer *transfer);

struct libusb_transfer {
	struct libusb_device_handle *dev_handle;
	uint8_t flags;
	unsigned char endpoint;
	unsigned char type;
	unsigned int timeout;
	int status;
	int length;
	int actual_length;
	libusb_transfer_cb_fn callback;
	void *user_data;
	unsigned char *buffer;
	int num_iso_packets;
	struct libusb_iso_packet_descriptor iso_packet_desc[];
};

#define LIBUSB_TRANSFER_FREE_BUFFER (1U << 1)

typedef struct libusb_context {
	int refcnt;
	int debug;
} libusb_context;

#define MAX_CONFIGS 8
#define MAX_PORTS 7

typedef struct libusb_device {
	int refcnt;
	uint64_t id;
	uint8_t bus, address, speed, nports;
	uint8_t ports[MAX_PORTS];
	struct libusb_device_descriptor desc;
	int nconfigs;
	unsigned char *config[MAX_CONFIGS];
	int config_len[MAX_CONFIGS];
} libusb_device;

typedef struct libusb_device_handle {
	libusb_device *dev;
	uint64_t id;
	int auto_detach;
} libusb_device_handle;

/* ---- the connection to the controller ----------------------------------------------- */

enum {
	OP_LIST = 1,
	OP_OPEN = 2,
	OP_CLOSE = 3,
	OP_CONTROL = 4,
	OP_INTERRUPT = 5,
	OP_BULK = 6,
	OP_CLAIM = 7,
	OP_RELEASE = 8,
	OP_SET_ALT = 9,
	OP_CLEAR_HALT = 10,
	OP_RESET = 11,
	OP_SET_CONFIG = 12,
	OP_GET_CONFIG = 13,
	OP_KERNEL_ACTIVE = 14,
	OP_DETACH = 15,
	OP_ATTACH = 16,
};

/* How long past a transfer's own timeout we wait for the controller before giving up on it
 * (a controller stuck that long is a broken test, not a slow device). */
#define GRACE_MS 15000

#define POOL_SIZE 8
static pthread_mutex_t pool_lock = PTHREAD_MUTEX_INITIALIZER;
static int pool_fd[POOL_SIZE];
static int pool_count;
static char pool_path[sizeof(((struct sockaddr_un *)0)->sun_path)];
static pthread_once_t atfork_once = PTHREAD_ONCE_INIT;

static int debug_on(void)
{
	const char *d = getenv("NUTPY_FAKEUSB_DEBUG");
	return d && *d && *d != '0';
}

#define DBG(...) do { if (debug_on()) { fprintf(stderr, "fakeusb[%d]: ", (int)getpid()); \
	fprintf(stderr, __VA_ARGS__); fputc('\n', stderr); } } while (0)

static void pool_after_fork_child(void)
{
	/* The child must not share a connection with its parent: a reply could reach the
	 * wrong process.  Forget the inherited ones (the parent keeps using its copies). */
	int i;
	pthread_mutex_init(&pool_lock, NULL);
	for (i = 0; i < pool_count; i++)
		close(pool_fd[i]);
	pool_count = 0;
}

static void install_atfork(void)
{
	pthread_atfork(NULL, NULL, pool_after_fork_child);
}

static int conn_get(void)
{
	const char *path = getenv("NUTPY_FAKEUSB_SOCKET");
	struct sockaddr_un sa;
	int fd = -1;

	pthread_once(&atfork_once, install_atfork);
	if (!path || !*path || strlen(path) >= sizeof(sa.sun_path))
		return -1;

	pthread_mutex_lock(&pool_lock);
	if (strcmp(pool_path, path) != 0) {
		/* The test pointed us at another bus: connections to the old one are useless. */
		while (pool_count > 0)
			close(pool_fd[--pool_count]);
		strcpy(pool_path, path);
	}
	if (pool_count > 0)
		fd = pool_fd[--pool_count];
	pthread_mutex_unlock(&pool_lock);
	if (fd >= 0)
		return fd;

	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -1;
	memset(&sa, 0, sizeof(sa));
	sa.sun_family = AF_UNIX;
	strcpy(sa.sun_path, path);
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		DBG("cannot reach the controller at %s: %s", path, strerror(errno));
		close(fd);
		return -1;
	}
	return fd;
}

static void conn_put(int fd)
{
	const char *path = getenv("NUTPY_FAKEUSB_SOCKET");
	pthread_mutex_lock(&pool_lock);
	if (pool_count < POOL_SIZE && path && strcmp(path, pool_path) == 0) {
		pool_fd[pool_count++] = fd;
		fd = -1;
	}
	pthread_mutex_unlock(&pool_lock);
	if (fd >= 0)
		close(fd);
}

static int write_all(int fd, const unsigned char *p, size_t n)
{
	while (n > 0) {
		ssize_t w = send(fd, p, n, MSG_NOSIGNAL);
		if (w < 0) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		p += w;
		n -= (size_t)w;
	}
	return 0;
}

static long long now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Reads n bytes before the deadline (0: none).  A signal does not end the wait, as a
 * synchronous libusb transfer is not ended by one either. */
static int read_all(int fd, unsigned char *p, size_t n, long long deadline)
{
	if (!deadline) {
		/* pooled connections keep the receive timeout of their last request */
		struct timeval none = { 0, 0 };
		setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &none, sizeof(none));
	}
	while (n > 0) {
		ssize_t r;
		if (deadline) {
			long long left = deadline - now_ms();
			struct timeval tv;
			if (left <= 0)
				return -2;
			tv.tv_sec = left / 1000;
			tv.tv_usec = (left % 1000) * 1000;
			setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
		}
		r = recv(fd, p, n, 0);
		if (r < 0) {
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN || errno == EWOULDBLOCK)
				return -2;
			return -1;
		}
		if (r == 0)
			return -1;
		p += r;
		n -= (size_t)r;
	}
	return 0;
}

/* A growable request/reply buffer. */
struct buf {
	unsigned char *p;
	size_t len, cap, pos;
};

static int buf_put(struct buf *b, const void *data, size_t n)
{
	if (b->len + n > b->cap) {
		size_t cap = b->cap ? b->cap * 2 : 256;
		unsigned char *np;
		while (cap < b->len + n)
			cap *= 2;
		np = realloc(b->p, cap);
		if (!np)
			return -1;
		b->p = np;
		b->cap = cap;
	}
	memcpy(b->p + b->len, data, n);
	b->len += n;
	return 0;
}

static void put_u8(struct buf *b, uint8_t v) { buf_put(b, &v, 1); }

static void put_u16(struct buf *b, uint16_t v)
{
	unsigned char x[2] = { (unsigned char)v, (unsigned char)(v >> 8) };
	buf_put(b, x, 2);
}

static void put_u32(struct buf *b, uint32_t v)
{
	unsigned char x[4] = { (unsigned char)v, (unsigned char)(v >> 8),
		(unsigned char)(v >> 16), (unsigned char)(v >> 24) };
	buf_put(b, x, 4);
}

static void put_u64(struct buf *b, uint64_t v)
{
	put_u32(b, (uint32_t)v);
	put_u32(b, (uint32_t)(v >> 32));
}

static int get_bytes(struct buf *b, void *out, size_t n)
{
	if (b->pos + n > b->len)
		return -1;
	if (out)
		memcpy(out, b->p + b->pos, n);
	b->pos += n;
	return 0;
}

static uint8_t get_u8(struct buf *b)
{
	uint8_t v = 0;
	get_bytes(b, &v, 1);
	return v;
}

static uint16_t get_u16(struct buf *b)
{
	unsigned char x[2] = { 0, 0 };
	get_bytes(b, x, 2);
	return (uint16_t)(x[0] | (x[1] << 8));
}

static uint32_t get_u32(struct buf *b)
{
	unsigned char x[4] = { 0, 0, 0, 0 };
	get_bytes(b, x, 4);
	return (uint32_t)x[0] | ((uint32_t)x[1] << 8) | ((uint32_t)x[2] << 16) | ((uint32_t)x[3] << 24);
}

static uint64_t get_u64(struct buf *b)
{
	uint64_t lo = get_u32(b);
	return lo | ((uint64_t)get_u32(b) << 32);
}

static void request_begin(struct buf *b, uint8_t op)
{
	memset(b, 0, sizeof(*b));
	put_u32(b, 0); /* length, filled in by request_send */
	put_u8(b, op);
	put_u8(b, 0);
	put_u8(b, 0);
	put_u8(b, 0);
	put_u32(b, (uint32_t)getpid());
}

/* Sends the request in `req`, and reads the reply into `rep` (status consumed).  Returns the
 * reply status, or `unreachable` when the controller cannot be reached, or
 * LIBUSB_ERROR_IO when it stops answering.  wait_ms bounds the wait for the reply. */
static int request_send(struct buf *req, struct buf *rep, long long wait_ms, int unreachable)
{
	unsigned char hdr[4];
	uint32_t len = (uint32_t)(req->len - 4);
	int fd, r;
	long long deadline = wait_ms > 0 ? now_ms() + wait_ms : 0;

	memset(rep, 0, sizeof(*rep));
	if (!req->p)
		return LIBUSB_ERROR_NO_MEM;
	req->p[0] = (unsigned char)len;
	req->p[1] = (unsigned char)(len >> 8);
	req->p[2] = (unsigned char)(len >> 16);
	req->p[3] = (unsigned char)(len >> 24);

	fd = conn_get();
	if (fd < 0) {
		free(req->p);
		return unreachable;
	}
	if (write_all(fd, req->p, req->len) < 0) {
		free(req->p);
		close(fd);
		return unreachable;
	}
	free(req->p);
	req->p = NULL;

	r = read_all(fd, hdr, 4, deadline);
	if (r == 0) {
		uint32_t n = (uint32_t)hdr[0] | ((uint32_t)hdr[1] << 8) | ((uint32_t)hdr[2] << 16)
			| ((uint32_t)hdr[3] << 24);
		if (n < 4 || n > (64u << 20)) {
			r = -1;
		} else {
			rep->p = malloc(n);
			rep->len = rep->cap = n;
			if (!rep->p)
				r = -1;
			else
				r = read_all(fd, rep->p, n, deadline);
		}
	}
	if (r != 0) {
		DBG("controller %s", r == -2 ? "did not answer in time" : "went away");
		close(fd);
		free(rep->p);
		memset(rep, 0, sizeof(*rep));
		return r == -2 ? LIBUSB_ERROR_IO : unreachable;
	}
	conn_put(fd);
	return (int32_t)get_u32(rep);
}

/* ---- contexts, versions, errors ----------------------------------------------------- */

static libusb_context default_ctx;
static pthread_mutex_t ctx_lock = PTHREAD_MUTEX_INITIALIZER;

API int libusb_init(libusb_context **ctx)
{
	pthread_mutex_lock(&ctx_lock);
	if (ctx) {
		*ctx = calloc(1, sizeof(**ctx));
		if (!*ctx) {
			pthread_mutex_unlock(&ctx_lock);
			return LIBUSB_ERROR_NO_MEM;
		}
		(*ctx)->refcnt = 1;
	} else {
		default_ctx.refcnt++;
	}
	pthread_mutex_unlock(&ctx_lock);
	DBG("libusb_init(%s)", ctx ? "ctx" : "NULL");
	return LIBUSB_SUCCESS;
}

API int libusb_init_context(libusb_context **ctx, const void *options, int num_options)
{
	(void)options;
	(void)num_options;
	return libusb_init(ctx);
}

API void libusb_exit(libusb_context *ctx)
{
	pthread_mutex_lock(&ctx_lock);
	if (ctx)
		free(ctx);
	else if (default_ctx.refcnt > 0)
		default_ctx.refcnt--;
	pthread_mutex_unlock(&ctx_lock);
}

API void libusb_set_debug(libusb_context *ctx, int level)
{
	(ctx ? ctx : &default_ctx)->debug = level;
}

API int libusb_set_option(libusb_context *ctx, int option, ...)
{
	(void)ctx;
	(void)option;
	return LIBUSB_SUCCESS;
}

API void libusb_set_log_cb(libusb_context *ctx, void *cb, int mode)
{
	(void)ctx;
	(void)cb;
	(void)mode;
}

API int libusb_has_capability(uint32_t capability)
{
	/* HAS_CAPABILITY and SUPPORTS_DETACH_KERNEL_DRIVER; no hotplug, no HID access. */
	return capability == 0x0000 || capability == 0x0101;
}

static const struct libusb_version version = { 1, 0, 26, 11724, "", "nutpy fakeusb" };

API const struct libusb_version *libusb_get_version(void)
{
	return &version;
}

API const char *libusb_strerror(int errcode)
{
	switch (errcode) {
	case LIBUSB_SUCCESS: return "Success";
	case LIBUSB_ERROR_IO: return "Input/Output Error";
	case LIBUSB_ERROR_INVALID_PARAM: return "Invalid parameter";
	case LIBUSB_ERROR_ACCESS: return "Access denied (insufficient permissions)";
	case LIBUSB_ERROR_NO_DEVICE: return "No such device (it may have been disconnected)";
	case LIBUSB_ERROR_NOT_FOUND: return "Entity not found";
	case LIBUSB_ERROR_BUSY: return "Resource busy";
	case LIBUSB_ERROR_TIMEOUT: return "Operation timed out";
	case LIBUSB_ERROR_OVERFLOW: return "Overflow";
	case LIBUSB_ERROR_PIPE: return "Pipe error";
	case LIBUSB_ERROR_INTERRUPTED: return "System call interrupted (perhaps due to signal)";
	case LIBUSB_ERROR_NO_MEM: return "Insufficient memory";
	case LIBUSB_ERROR_NOT_SUPPORTED:
		return "Operation not supported or unimplemented on this platform";
	default: return "Other error";
	}
}

API const char *libusb_error_name(int errcode)
{
	switch (errcode) {
	case LIBUSB_SUCCESS: return "LIBUSB_SUCCESS / LIBUSB_TRANSFER_COMPLETED";
	case LIBUSB_ERROR_IO: return "LIBUSB_ERROR_IO";
	case LIBUSB_ERROR_INVALID_PARAM: return "LIBUSB_ERROR_INVALID_PARAM";
	case LIBUSB_ERROR_ACCESS: return "LIBUSB_ERROR_ACCESS";
	case LIBUSB_ERROR_NO_DEVICE: return "LIBUSB_ERROR_NO_DEVICE";
	case LIBUSB_ERROR_NOT_FOUND: return "LIBUSB_ERROR_NOT_FOUND";
	case LIBUSB_ERROR_BUSY: return "LIBUSB_ERROR_BUSY";
	case LIBUSB_ERROR_TIMEOUT: return "LIBUSB_ERROR_TIMEOUT";
	case LIBUSB_ERROR_OVERFLOW: return "LIBUSB_ERROR_OVERFLOW";
	case LIBUSB_ERROR_PIPE: return "LIBUSB_ERROR_PIPE";
	case LIBUSB_ERROR_INTERRUPTED: return "LIBUSB_ERROR_INTERRUPTED";
	case LIBUSB_ERROR_NO_MEM: return "LIBUSB_ERROR_NO_MEM";
	case LIBUSB_ERROR_NOT_SUPPORTED: return "LIBUSB_ERROR_NOT_SUPPORTED";
	case LIBUSB_ERROR_OTHER: return "LIBUSB_ERROR_OTHER";
	case 1: return "LIBUSB_TRANSFER_ERROR";
	case 2: return "LIBUSB_TRANSFER_TIMED_OUT";
	case 3: return "LIBUSB_TRANSFER_CANCELLED";
	case 4: return "LIBUSB_TRANSFER_STALL";
	case 5: return "LIBUSB_TRANSFER_NO_DEVICE";
	case 6: return "LIBUSB_TRANSFER_OVERFLOW";
	default: return "**UNKNOWN**";
	}
}

API int libusb_setlocale(const char *locale)
{
	(void)locale;
	return LIBUSB_SUCCESS;
}

/* ---- devices ------------------------------------------------------------------------- */

static void device_free(libusb_device *dev)
{
	int i;
	for (i = 0; i < dev->nconfigs; i++)
		free(dev->config[i]);
	free(dev);
}

API libusb_device *libusb_ref_device(libusb_device *dev)
{
	if (dev)
		__atomic_add_fetch(&dev->refcnt, 1, __ATOMIC_SEQ_CST);
	return dev;
}

API void libusb_unref_device(libusb_device *dev)
{
	if (dev && __atomic_sub_fetch(&dev->refcnt, 1, __ATOMIC_SEQ_CST) == 0)
		device_free(dev);
}

API void libusb_free_device_list(libusb_device **list, int unref_devices)
{
	libusb_device **p;
	if (!list)
		return;
	if (unref_devices)
		for (p = list; *p; p++)
			libusb_unref_device(*p);
	free(list);
}

static int parse_device(struct buf *rep, libusb_device *dev)
{
	unsigned char d[18];
	int i, n;

	dev->id = get_u64(rep);
	dev->bus = get_u8(rep);
	dev->address = get_u8(rep);
	dev->speed = get_u8(rep);
	dev->nports = get_u8(rep);
	if (get_bytes(rep, dev->ports, MAX_PORTS) < 0 || dev->nports > MAX_PORTS)
		return -1;
	if (get_bytes(rep, d, sizeof(d)) < 0)
		return -1;
	dev->desc.bLength = d[0];
	dev->desc.bDescriptorType = d[1];
	dev->desc.bcdUSB = (uint16_t)(d[2] | (d[3] << 8));
	dev->desc.bDeviceClass = d[4];
	dev->desc.bDeviceSubClass = d[5];
	dev->desc.bDeviceProtocol = d[6];
	dev->desc.bMaxPacketSize0 = d[7];
	dev->desc.idVendor = (uint16_t)(d[8] | (d[9] << 8));
	dev->desc.idProduct = (uint16_t)(d[10] | (d[11] << 8));
	dev->desc.bcdDevice = (uint16_t)(d[12] | (d[13] << 8));
	dev->desc.iManufacturer = d[14];
	dev->desc.iProduct = d[15];
	dev->desc.iSerialNumber = d[16];
	dev->desc.bNumConfigurations = d[17];
	n = get_u8(rep);
	if (n > MAX_CONFIGS)
		return -1;
	for (i = 0; i < n; i++) {
		int len = get_u16(rep);
		dev->config[i] = malloc(len ? (size_t)len : 1);
		if (!dev->config[i] || get_bytes(rep, dev->config[i], (size_t)len) < 0)
			return -1;
		dev->config_len[i] = len;
		dev->nconfigs = i + 1;
	}
	return 0;
}

API ssize_t libusb_get_device_list(libusb_context *ctx, libusb_device ***list)
{
	struct buf req, rep;
	libusb_device **out;
	int count, i;

	(void)ctx;
	if (!list)
		return LIBUSB_ERROR_INVALID_PARAM;
	request_begin(&req, OP_LIST);
	count = request_send(&req, &rep, GRACE_MS, 0);
	if (count < 0) {
		/* The controller broke off: report an empty bus. */
		count = 0;
	}
	out = calloc((size_t)count + 1, sizeof(*out));
	if (!out) {
		free(rep.p);
		return LIBUSB_ERROR_NO_MEM;
	}
	for (i = 0; i < count; i++) {
		libusb_device *dev = calloc(1, sizeof(*dev));
		if (!dev || parse_device(&rep, dev) < 0) {
			if (dev)
				device_free(dev);
			break;
		}
		dev->refcnt = 1;
		out[i] = dev;
	}
	free(rep.p);
	*list = out;
	DBG("libusb_get_device_list: %d device(s)", i);
	return i;
}

API uint8_t libusb_get_bus_number(libusb_device *dev)
{
	return dev->bus;
}

API uint8_t libusb_get_device_address(libusb_device *dev)
{
	return dev->address;
}

API int libusb_get_device_speed(libusb_device *dev)
{
	return dev->speed;
}

API uint8_t libusb_get_port_number(libusb_device *dev)
{
	return dev->nports ? dev->ports[dev->nports - 1] : 0;
}

API int libusb_get_port_numbers(libusb_device *dev, uint8_t *port_numbers, int port_numbers_len)
{
	if (port_numbers_len <= 0)
		return LIBUSB_ERROR_INVALID_PARAM;
	if (port_numbers_len < dev->nports)
		return LIBUSB_ERROR_OVERFLOW;
	memcpy(port_numbers, dev->ports, dev->nports);
	return dev->nports;
}

API int libusb_get_port_path(libusb_context *ctx, libusb_device *dev, uint8_t *path, uint8_t path_length)
{
	(void)ctx;
	return libusb_get_port_numbers(dev, path, path_length);
}

API libusb_device *libusb_get_parent(libusb_device *dev)
{
	/* Hubs are not modelled: every device hangs off a root hub nobody lists. */
	(void)dev;
	return NULL;
}

API int libusb_get_device_descriptor(libusb_device *dev, struct libusb_device_descriptor *desc)
{
	*desc = dev->desc;
	return LIBUSB_SUCCESS;
}

/* ---- configuration descriptors ----------------------------------------------------- */

/* Parsing follows the USB 2.0 layout (9.6.3-9.6.6): class- and vendor-specific descriptors
 * after the configuration, an interface or an endpoint go to that element's `extra`, up to
 * the next interface or endpoint descriptor; consecutive interface descriptors with the
 * same number are alternate settings of one interface. */

static int is_structural(uint8_t type)
{
	return type == DT_DEVICE || type == DT_CONFIG || type == DT_INTERFACE || type == DT_ENDPOINT;
}

/* Length of the run of non-structural descriptors at p (at most n bytes). */
static int extra_run(const unsigned char *p, int n)
{
	int used = 0;
	while (n - used >= 2) {
		uint8_t len = p[used], type = p[used + 1];
		if (len < 2 || len > n - used || is_structural(type))
			break;
		used += len;
	}
	return used;
}

static unsigned char *copy_extra(const unsigned char *p, int n)
{
	unsigned char *e;
	if (n <= 0)
		return NULL;
	e = malloc((size_t)n);
	if (e)
		memcpy(e, p, (size_t)n);
	return e;
}

API void libusb_free_config_descriptor(struct libusb_config_descriptor *config)
{
	int i, a, e;
	if (!config)
		return;
	for (i = 0; i < config->bNumInterfaces && config->interface; i++) {
		const struct libusb_interface *iface = &config->interface[i];
		for (a = 0; a < iface->num_altsetting; a++) {
			const struct libusb_interface_descriptor *alt = &iface->altsetting[a];
			for (e = 0; e < alt->bNumEndpoints && alt->endpoint; e++)
				free((void *)alt->endpoint[e].extra);
			free((void *)alt->endpoint);
			free((void *)alt->extra);
		}
		free((void *)iface->altsetting);
	}
	free((void *)config->interface);
	free((void *)config->extra);
	free(config);
}

static int parse_config(const unsigned char *p, int n, struct libusb_config_descriptor **out)
{
	struct libusb_config_descriptor *c;
	struct libusb_interface *ifaces;
	int pos, run, nif = 0;

	if (n < 9 || p[1] != DT_CONFIG || p[0] < 9 || p[0] > n)
		return LIBUSB_ERROR_IO;
	c = calloc(1, sizeof(*c));
	if (!c)
		return LIBUSB_ERROR_NO_MEM;
	c->bLength = p[0];
	c->bDescriptorType = p[1];
	c->wTotalLength = (uint16_t)(p[2] | (p[3] << 8));
	c->bNumInterfaces = p[4];
	c->bConfigurationValue = p[5];
	c->iConfiguration = p[6];
	c->bmAttributes = p[7];
	c->MaxPower = p[8];
	if (c->wTotalLength < n)
		n = c->wTotalLength;
	ifaces = calloc(c->bNumInterfaces ? c->bNumInterfaces : 1, sizeof(*ifaces));
	if (!ifaces) {
		free(c);
		return LIBUSB_ERROR_NO_MEM;
	}
	c->interface = ifaces;
	pos = c->bLength;
	run = extra_run(p + pos, n - pos);
	c->extra = copy_extra(p + pos, run);
	c->extra_length = c->extra ? run : 0;
	pos += run;

	while (nif < c->bNumInterfaces && n - pos >= 9 && p[pos + 1] == DT_INTERFACE) {
		struct libusb_interface *iface = &ifaces[nif++];
		uint8_t number = p[pos + 2];
		while (n - pos >= 9 && p[pos + 1] == DT_INTERFACE && p[pos + 2] == number) {
			struct libusb_interface_descriptor *alts, *alt;
			struct libusb_endpoint_descriptor *eps = NULL;
			int e, neps;

			if (p[pos] < 9 || p[pos] > n - pos)
				goto bad;
			alts = realloc((void *)iface->altsetting,
				sizeof(*alts) * (size_t)(iface->num_altsetting + 1));
			if (!alts)
				goto bad;
			iface->altsetting = alts;
			alt = &alts[iface->num_altsetting++];
			memset(alt, 0, sizeof(*alt));
			alt->bLength = p[pos];
			alt->bDescriptorType = p[pos + 1];
			alt->bInterfaceNumber = p[pos + 2];
			alt->bAlternateSetting = p[pos + 3];
			alt->bNumEndpoints = p[pos + 4];
			alt->bInterfaceClass = p[pos + 5];
			alt->bInterfaceSubClass = p[pos + 6];
			alt->bInterfaceProtocol = p[pos + 7];
			alt->iInterface = p[pos + 8];
			pos += p[pos];
			run = extra_run(p + pos, n - pos);
			alt->extra = copy_extra(p + pos, run);
			alt->extra_length = alt->extra ? run : 0;
			pos += run;

			neps = alt->bNumEndpoints;
			if (neps > 0) {
				eps = calloc((size_t)neps, sizeof(*eps));
				if (!eps)
					goto bad;
				alt->endpoint = eps;
			}
			for (e = 0; e < neps; e++) {
				struct libusb_endpoint_descriptor *ep = &eps[e];
				if (n - pos < 7 || p[pos + 1] != DT_ENDPOINT || p[pos] < 7 || p[pos] > n - pos) {
					alt->bNumEndpoints = (uint8_t)e;
					break;
				}
				ep->bLength = p[pos];
				ep->bDescriptorType = p[pos + 1];
				ep->bEndpointAddress = p[pos + 2];
				ep->bmAttributes = p[pos + 3];
				ep->wMaxPacketSize = (uint16_t)(p[pos + 4] | (p[pos + 5] << 8));
				ep->bInterval = p[pos + 6];
				if (p[pos] >= 9) {
					ep->bRefresh = p[pos + 7];
					ep->bSynchAddress = p[pos + 8];
				}
				pos += p[pos];
				run = extra_run(p + pos, n - pos);
				ep->extra = copy_extra(p + pos, run);
				ep->extra_length = ep->extra ? run : 0;
				pos += run;
			}
		}
	}
	c->bNumInterfaces = (uint8_t)nif;
	*out = c;
	return LIBUSB_SUCCESS;
bad:
	c->bNumInterfaces = (uint8_t)nif;
	libusb_free_config_descriptor(c);
	return LIBUSB_ERROR_IO;
}

API int libusb_get_config_descriptor(libusb_device *dev, uint8_t config_index,
	struct libusb_config_descriptor **config)
{
	if (config_index >= dev->nconfigs)
		return LIBUSB_ERROR_NOT_FOUND;
	return parse_config(dev->config[config_index], dev->config_len[config_index], config);
}

API int libusb_get_config_descriptor_by_value(libusb_device *dev, uint8_t value,
	struct libusb_config_descriptor **config)
{
	int i;
	for (i = 0; i < dev->nconfigs; i++)
		if (dev->config_len[i] >= 6 && dev->config[i][5] == value)
			return libusb_get_config_descriptor(dev, (uint8_t)i, config);
	return LIBUSB_ERROR_NOT_FOUND;
}

API int libusb_get_active_config_descriptor(libusb_device *dev,
	struct libusb_config_descriptor **config)
{
	/* Devices are emulated as configured with their first configuration. */
	return libusb_get_config_descriptor(dev, 0, config);
}

static int endpoint_max_packet(libusb_device *dev, unsigned char endpoint, int iso)
{
	struct libusb_config_descriptor *c;
	int i, a, e, r = LIBUSB_ERROR_NOT_FOUND;
	if (libusb_get_active_config_descriptor(dev, &c) != 0)
		return LIBUSB_ERROR_OTHER;
	for (i = 0; i < c->bNumInterfaces; i++)
		for (a = 0; a < c->interface[i].num_altsetting; a++) {
			const struct libusb_interface_descriptor *alt = &c->interface[i].altsetting[a];
			for (e = 0; e < alt->bNumEndpoints; e++)
				if (alt->endpoint[e].bEndpointAddress == endpoint && r < 0) {
					int mps = alt->endpoint[e].wMaxPacketSize;
					r = iso ? (mps & 0x7ff) * (1 + ((mps >> 11) & 3)) : mps;
				}
		}
	libusb_free_config_descriptor(c);
	return r;
}

API int libusb_get_max_packet_size(libusb_device *dev, unsigned char endpoint)
{
	return endpoint_max_packet(dev, endpoint, 0);
}

API int libusb_get_max_iso_packet_size(libusb_device *dev, unsigned char endpoint)
{
	return endpoint_max_packet(dev, endpoint, 1);
}

/* ---- handles ------------------------------------------------------------------------- */

API int libusb_open(libusb_device *dev, libusb_device_handle **handle)
{
	struct buf req, rep;
	libusb_device_handle *h;
	int r;

	request_begin(&req, OP_OPEN);
	put_u64(&req, dev->id);
	r = request_send(&req, &rep, GRACE_MS, LIBUSB_ERROR_NO_DEVICE);
	if (r == 0) {
		h = calloc(1, sizeof(*h));
		if (!h) {
			r = LIBUSB_ERROR_NO_MEM;
		} else {
			h->dev = libusb_ref_device(dev);
			h->id = get_u64(&rep);
			*handle = h;
		}
	}
	free(rep.p);
	DBG("libusb_open(%03d/%03d) = %d", dev->bus, dev->address, r);
	return r;
}

API void libusb_close(libusb_device_handle *handle)
{
	struct buf req, rep;
	if (!handle)
		return;
	request_begin(&req, OP_CLOSE);
	put_u64(&req, handle->id);
	request_send(&req, &rep, GRACE_MS, LIBUSB_ERROR_NO_DEVICE);
	free(rep.p);
	libusb_unref_device(handle->dev);
	free(handle);
}

API libusb_device *libusb_get_device(libusb_device_handle *handle)
{
	return handle->dev;
}

API libusb_device_handle *libusb_open_device_with_vid_pid(libusb_context *ctx,
	uint16_t vendor_id, uint16_t product_id)
{
	libusb_device **list;
	libusb_device_handle *h = NULL;
	ssize_t n, i;

	n = libusb_get_device_list(ctx, &list);
	for (i = 0; i < n; i++)
		if (list[i]->desc.idVendor == vendor_id && list[i]->desc.idProduct == product_id) {
			if (libusb_open(list[i], &h) != 0)
				h = NULL;
			break;
		}
	if (n >= 0)
		libusb_free_device_list(list, 1);
	return h;
}

/* A request naming a handle and two integers; returns the status, *value the reply's. */
static int handle_op(libusb_device_handle *handle, uint8_t op, int32_t a, int32_t b, int32_t *value)
{
	struct buf req, rep;
	int r;
	if (!handle)
		return LIBUSB_ERROR_INVALID_PARAM;
	request_begin(&req, op);
	put_u64(&req, handle->id);
	put_u32(&req, (uint32_t)a);
	put_u32(&req, (uint32_t)b);
	r = request_send(&req, &rep, GRACE_MS, LIBUSB_ERROR_NO_DEVICE);
	if (value && r >= 0)
		*value = (int32_t)get_u32(&rep);
	free(rep.p);
	return r;
}

API int libusb_claim_interface(libusb_device_handle *handle, int interface_number)
{
	return handle_op(handle, OP_CLAIM, interface_number, handle ? handle->auto_detach : 0, NULL);
}

API int libusb_release_interface(libusb_device_handle *handle, int interface_number)
{
	return handle_op(handle, OP_RELEASE, interface_number, handle ? handle->auto_detach : 0, NULL);
}

API int libusb_set_interface_alt_setting(libusb_device_handle *handle, int interface_number,
	int alternate_setting)
{
	return handle_op(handle, OP_SET_ALT, interface_number, alternate_setting, NULL);
}

API int libusb_clear_halt(libusb_device_handle *handle, unsigned char endpoint)
{
	return handle_op(handle, OP_CLEAR_HALT, endpoint, 0, NULL);
}

API int libusb_reset_device(libusb_device_handle *handle)
{
	return handle_op(handle, OP_RESET, 0, 0, NULL);
}

API int libusb_set_configuration(libusb_device_handle *handle, int configuration)
{
	return handle_op(handle, OP_SET_CONFIG, configuration, 0, NULL);
}

API int libusb_get_configuration(libusb_device_handle *handle, int *config)
{
	int32_t v = 0;
	int r = handle_op(handle, OP_GET_CONFIG, 0, 0, &v);
	if (r == 0 && config)
		*config = v;
	return r;
}

API int libusb_kernel_driver_active(libusb_device_handle *handle, int interface_number)
{
	return handle_op(handle, OP_KERNEL_ACTIVE, interface_number, 0, NULL);
}

API int libusb_detach_kernel_driver(libusb_device_handle *handle, int interface_number)
{
	return handle_op(handle, OP_DETACH, interface_number, 0, NULL);
}

API int libusb_attach_kernel_driver(libusb_device_handle *handle, int interface_number)
{
	return handle_op(handle, OP_ATTACH, interface_number, 0, NULL);
}

API int libusb_set_auto_detach_kernel_driver(libusb_device_handle *handle, int enable)
{
	if (!handle)
		return LIBUSB_ERROR_INVALID_PARAM;
	handle->auto_detach = enable ? 1 : 0;
	return LIBUSB_SUCCESS;
}

/* ---- synchronous transfers ---------------------------------------------------------- */

static long long reply_wait(unsigned int timeout)
{
	/* timeout 0 means "no limit" for libusb, and so for the wait on the controller */
	return timeout ? (long long)timeout + GRACE_MS : 0;
}

API int libusb_control_transfer(libusb_device_handle *handle, uint8_t request_type,
	uint8_t bRequest, uint16_t wValue, uint16_t wIndex, unsigned char *data,
	uint16_t wLength, unsigned int timeout)
{
	struct buf req, rep;
	int r;

	if (!handle)
		return LIBUSB_ERROR_INVALID_PARAM;
	request_begin(&req, OP_CONTROL);
	put_u64(&req, handle->id);
	put_u8(&req, request_type);
	put_u8(&req, bRequest);
	put_u16(&req, wValue);
	put_u16(&req, wIndex);
	put_u16(&req, wLength);
	put_u32(&req, timeout);
	if (!(request_type & 0x80) && wLength)
		buf_put(&req, data, wLength);
	r = request_send(&req, &rep, reply_wait(timeout), LIBUSB_ERROR_NO_DEVICE);
	if (r > 0 && (request_type & 0x80)) {
		size_t avail = rep.len - rep.pos;
		if ((size_t)r > avail || r > wLength)
			r = LIBUSB_ERROR_IO;
		else
			get_bytes(&rep, data, (size_t)r);
	}
	free(rep.p);
	DBG("libusb_control_transfer(%02x %02x %04x %04x %u) = %d", request_type, bRequest,
		wValue, wIndex, wLength, r);
	return r;
}

static int data_transfer(uint8_t op, libusb_device_handle *handle, unsigned char endpoint,
	unsigned char *data, int length, int *transferred, unsigned int timeout)
{
	struct buf req, rep;
	int r;
	uint32_t done = 0;

	if (transferred)
		*transferred = 0;
	if (!handle || length < 0)
		return LIBUSB_ERROR_INVALID_PARAM;
	request_begin(&req, op);
	put_u64(&req, handle->id);
	put_u8(&req, endpoint);
	put_u8(&req, 0);
	put_u8(&req, 0);
	put_u8(&req, 0);
	put_u32(&req, (uint32_t)length);
	put_u32(&req, timeout);
	if (!(endpoint & 0x80) && length)
		buf_put(&req, data, (size_t)length);
	r = request_send(&req, &rep, reply_wait(timeout), LIBUSB_ERROR_NO_DEVICE);
	if (rep.p) {
		done = get_u32(&rep);
		if (done > (uint32_t)length)
			done = (uint32_t)length;
		if (endpoint & 0x80) {
			size_t avail = rep.len - rep.pos;
			if (done > avail)
				done = (uint32_t)avail;
			get_bytes(&rep, data, done);
		}
	}
	if (transferred)
		*transferred = (int)done;
	free(rep.p);
	DBG("%s transfer(ep %02x, %d) = %d (%u bytes)", op == OP_BULK ? "bulk" : "interrupt",
		endpoint, length, r, done);
	return r;
}

API int libusb_interrupt_transfer(libusb_device_handle *handle, unsigned char endpoint,
	unsigned char *data, int length, int *transferred, unsigned int timeout)
{
	return data_transfer(OP_INTERRUPT, handle, endpoint, data, length, transferred, timeout);
}

API int libusb_bulk_transfer(libusb_device_handle *handle, unsigned char endpoint,
	unsigned char *data, int length, int *transferred, unsigned int timeout)
{
	return data_transfer(OP_BULK, handle, endpoint, data, length, transferred, timeout);
}

API int libusb_get_string_descriptor_ascii(libusb_device_handle *handle, uint8_t desc_index,
	unsigned char *data, int length)
{
	unsigned char b[255];
	int r, si, di;
	uint16_t langid;

	if (desc_index == 0 || length <= 0)
		return LIBUSB_ERROR_INVALID_PARAM;
	/* The language table first (string 0), then the string in its first language. */
	r = libusb_control_transfer(handle, 0x80, 0x06, DT_STRING << 8, 0, b, 4, 1000);
	if (r < 0)
		return r;
	if (r != 4 || b[0] < 4 || b[1] != DT_STRING)
		return LIBUSB_ERROR_IO;
	langid = (uint16_t)(b[2] | (b[3] << 8));
	r = libusb_control_transfer(handle, 0x80, 0x06, (uint16_t)((DT_STRING << 8) | desc_index),
		langid, b, sizeof(b), 1000);
	if (r < 0)
		return r;
	if (r < 2 || b[0] > r || b[1] != DT_STRING)
		return LIBUSB_ERROR_IO;
	di = 0;
	for (si = 2; si + 1 < b[0] && di < length - 1; si += 2) {
		uint16_t c = (uint16_t)(b[si] | (b[si + 1] << 8));
		data[di++] = c < 0x80 ? (unsigned char)c : '?';
	}
	data[di] = 0;
	return di;
}

/* ---- asynchronous API ---------------------------------------------------------------- */

/* No NUT driver and no pyusb path we use submits transfers asynchronously (pyusb only
 * does for isochronous endpoints).  Transfers can be allocated and freed; submitting one
 * says "not supported" rather than pretending. */

API struct libusb_transfer *libusb_alloc_transfer(int iso_packets)
{
	if (iso_packets < 0)
		return NULL;
	return calloc(1, sizeof(struct libusb_transfer)
		+ (size_t)iso_packets * sizeof(struct libusb_iso_packet_descriptor));
}

API void libusb_free_transfer(struct libusb_transfer *transfer)
{
	if (!transfer)
		return;
	if (transfer->flags & LIBUSB_TRANSFER_FREE_BUFFER)
		free(transfer->buffer);
	free(transfer);
}

API int libusb_submit_transfer(struct libusb_transfer *transfer)
{
	(void)transfer;
	return LIBUSB_ERROR_NOT_SUPPORTED;
}

API int libusb_cancel_transfer(struct libusb_transfer *transfer)
{
	(void)transfer;
	return LIBUSB_ERROR_NOT_FOUND;
}

API int libusb_handle_events_timeout_completed(libusb_context *ctx, struct timeval *tv, int *completed)
{
	/* Nothing can be pending: wait out the timeout like an idle event loop. */
	(void)ctx;
	(void)completed;
	if (tv && (tv->tv_sec || tv->tv_usec)) {
		struct timespec ts = { tv->tv_sec, tv->tv_usec * 1000 };
		nanosleep(&ts, NULL);
	}
	return LIBUSB_SUCCESS;
}

API int libusb_handle_events_timeout(libusb_context *ctx, struct timeval *tv)
{
	return libusb_handle_events_timeout_completed(ctx, tv, NULL);
}

API int libusb_handle_events_completed(libusb_context *ctx, int *completed)
{
	struct timeval tv = { 1, 0 };
	return libusb_handle_events_timeout_completed(ctx, &tv, completed);
}

API int libusb_handle_events(libusb_context *ctx)
{
	return libusb_handle_events_completed(ctx, NULL);
}

API int libusb_get_next_timeout(libusb_context *ctx, struct timeval *tv)
{
	(void)ctx;
	(void)tv;
	return 0;
}
