/* SPDX-License-Identifier: MIT */
/*
 * The rbd: spec parser (QEMU's rbd filename syntax) without a cluster:
 * pool, namespace, image, snapshot and options land where they belong, the
 * cephx user is found among the options, and every malformed spec is
 * refused with -EINVAL before anything connects.
 */
#include "../../../lib/backend/be_rbd.c"

#include "test.h"

static void parse_ok(const char *spec, const char *pool, const char *ns, const char *image,
		     const char *snap, const char *opts)
{
	struct rbd_spec s;

	CHECK_EQ(rbd_spec_parse(spec, &s), 0);
	CHECK(!strcmp(s.pool, pool));
	CHECK(ns ? s.ns && !strcmp(s.ns, ns) : !s.ns);
	CHECK(!strcmp(s.image, image));
	CHECK(snap ? s.snap && !strcmp(s.snap, snap) : !s.snap);
	CHECK(opts ? s.opts && !strcmp(s.opts, opts) : !s.opts);
	free(s.buf);
}

int main(void)
{
	static const char *const bad[] = {
	    "rbd:",	     "rbd:image",      "rbd:/image",	    "rbd:pool/",
	    "rbd:pool/img@", "rbd:a/b/c/d",    "rbd:pool//img",	    "rbd::conf=/x",
	    "rbd:@snap",     "rbd:pool/@snap", "rbd:pool/ns/:id=x",
	};
	struct rbd_spec s;
	char id[16];

	CHECK(be_is_rbd_spec("rbd:p/i"));
	CHECK(!be_is_rbd_spec("rbd"));
	CHECK(!be_is_rbd_spec("./rbd:p/i"));
	CHECK(!be_is_rbd_spec(NULL));
	parse_ok("rbd:pool/img", "pool", NULL, "img", NULL, NULL);
	parse_ok("rbd:pool/img@s1", "pool", NULL, "img", "s1", NULL);
	parse_ok("rbd:pool/ns/img@s1:conf=/etc/c.conf:id=u", "pool", "ns", "img", "s1",
		 "conf=/etc/c.conf:id=u");
	parse_ok("rbd:pool/img:mon_host=127.0.0.1", "pool", NULL, "img", NULL,
		 "mon_host=127.0.0.1");
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		if (rbd_spec_parse(bad[i], &s) != -EINVAL) {
			fprintf(stderr, "FAIL: '%s' accepted\n", bad[i]);
			return 1;
		}
		CHECK(!s.buf);
	}
	CHECK(!rbd_find_id(NULL, id, sizeof(id)));
	CHECK(!rbd_find_id("conf=/x:keyring=/id=y", id, sizeof(id)));
	CHECK(!strcmp(rbd_find_id("conf=/x:id=user:keyring=/k", id, sizeof(id)), "user"));
	CHECK(!strcmp(rbd_find_id("id=a-very-long-user-name", id, sizeof(id)), "a-very-long-use"));
	printf("rbd spec: %zu malformed specs refused, fields and id= found\n",
	       sizeof(bad) / sizeof(bad[0]));
	return 0;
}
