/*
 * LD_PRELOAD shim for the loopback benchmark only.
 *
 * Janus (src/ice.c, janus_ice_setup_local) skips every interface that has
 * IFF_LOOPBACK set when it hands addresses to libnice, and libnice's own
 * fallback also ignores loopback, so a stock Janus can never offer a
 * 127.0.0.1 host candidate. This shim wraps getifaddrs(3) and clears
 * IFF_LOOPBACK on the "lo" entries, so that with ice_enforce_list = "lo"
 * Janus gathers exactly one host candidate, 127.0.0.1:<rtp_port_range>.
 *
 * Build: cc -shared -fPIC -O2 -o lo_not_loopback.so lo_not_loopback.c -ldl
 * Use:   LD_PRELOAD=/path/lo_not_loopback.so janus -F <config dir>
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <ifaddrs.h>
#include <net/if.h>
#include <string.h>

int getifaddrs(struct ifaddrs **ifap) {
	static int (*real_getifaddrs)(struct ifaddrs **) = NULL;
	if (real_getifaddrs == NULL)
		real_getifaddrs = (int (*)(struct ifaddrs **))dlsym(RTLD_NEXT, "getifaddrs");
	if (real_getifaddrs == NULL)
		return -1;
	int rc = real_getifaddrs(ifap);
	if (rc == 0) {
		for (struct ifaddrs *ifa = *ifap; ifa != NULL; ifa = ifa->ifa_next) {
			if (ifa->ifa_name != NULL && strcmp(ifa->ifa_name, "lo") == 0)
				ifa->ifa_flags &= ~IFF_LOOPBACK;
		}
	}
	return rc;
}
