/* nutpy modem-line shim: gives a pseudo-terminal the modem control lines it lacks, so
 * that contact-closure drivers (genericups, C's and nutpy's) can run against a simulated
 * UPS. Load it with LD_PRELOAD and point NUTPY_MODEM_DIR at the simulator's directory:
 *   <dir>/tty    symlink to the simulated port (only descriptors of that device are served)
 *   <dir>/in     "<bits> <power>": the input lines (TIOCM_CTS|CAR|RNG|DSR, decimal) the UPS
 *                shows while the output lines in <power> are raised (the cable draws its
 *                power from them; unpowered, every input reads low), written by the UPS
 *   <dir>/out    the output lines (TIOCM_DTR|RTS bits, decimal), written here
 *   <dir>/breaks the number of breaks sent (tcsendbreak), written here
 * TIOCMGET, TIOCMSET, TIOCMBIS and TIOCMBIC and tcsendbreak() on that device use these
 * files; every other call goes to the C library unchanged. Part of nutpy (GPL-2.0+). */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <termios.h>
#include <unistd.h>

#define OUTPUT_LINES (TIOCM_DTR | TIOCM_RTS)

static int served(int fd)
{
	const char *dir = getenv("NUTPY_MODEM_DIR");
	char path[4096];
	struct stat fst, dst;

	if (!dir || fstat(fd, &fst) != 0 || !S_ISCHR(fst.st_mode))
		return 0;
	snprintf(path, sizeof(path), "%s/tty", dir);
	if (stat(path, &dst) != 0)
		return 0;
	return fst.st_rdev == dst.st_rdev;
}

static unsigned long read_values(const char *name, unsigned long *second)
{
	char path[4096], buf[64] = "", *end;
	unsigned long value;
	int fd;
	ssize_t n;

	snprintf(path, sizeof(path), "%s/%s", getenv("NUTPY_MODEM_DIR"), name);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return 0;
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return 0;
	buf[n] = '\0';
	value = strtoul(buf, &end, 10);
	if (second)
		*second = strtoul(end, NULL, 10);
	return value;
}

static unsigned long read_value(const char *name)
{
	return read_values(name, NULL);
}

static void write_value(const char *name, unsigned long value)
{
	char path[4096], tmp[4200], buf[64];
	int fd, len, saved = errno;

	snprintf(path, sizeof(path), "%s/%s", getenv("NUTPY_MODEM_DIR"), name);
	snprintf(tmp, sizeof(tmp), "%s.%ld", path, (long)getpid());
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd >= 0) {
		len = snprintf(buf, sizeof(buf), "%lu\n", value);
		if (write(fd, buf, (size_t)len) == len && close(fd) == 0)
			rename(tmp, path);
		else
			unlink(tmp);
	}
	errno = saved;
}

int ioctl(int fd, unsigned long request, ...)
{
	static int (*real_ioctl)(int, unsigned long, ...);
	va_list ap;
	void *arg;
	unsigned long out, in, power = 0;

	va_start(ap, request);
	arg = va_arg(ap, void *);
	va_end(ap);
	if (!real_ioctl)
		real_ioctl = (int (*)(int, unsigned long, ...))dlsym(RTLD_NEXT, "ioctl");
	if ((request == TIOCMGET || request == TIOCMSET || request == TIOCMBIS
		|| request == TIOCMBIC) && arg && served(fd)) {
		out = read_value("out") & OUTPUT_LINES;
		if (request == TIOCMGET) {
			in = read_values("in", &power);
			*(int *)arg = (int)(((out & power) == power ? in : 0) | out);
			return 0;
		}
		if (request == TIOCMSET)
			out = (unsigned long)*(int *)arg & OUTPUT_LINES;
		else if (request == TIOCMBIS)
			out |= (unsigned long)*(int *)arg & OUTPUT_LINES;
		else
			out &= ~((unsigned long)*(int *)arg & OUTPUT_LINES);
		write_value("out", out);
		return 0;
	}
	return real_ioctl(fd, request, arg);
}

int tcsendbreak(int fd, int duration)
{
	static int (*real_tcsendbreak)(int, int);

	if (served(fd)) {
		write_value("breaks", read_value("breaks") + 1);
		return 0;
	}
	if (!real_tcsendbreak)
		real_tcsendbreak = (int (*)(int, int))dlsym(RTLD_NEXT, "tcsendbreak");
	return real_tcsendbreak(fd, duration);
}
