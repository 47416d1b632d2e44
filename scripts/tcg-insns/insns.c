/*
 * Copyright (c) 2026 The Ferry Authors. All rights reserved.
 * Use of this source code is governed by a BSD-style licence that can be
 * found in the LICENSE file.
 *
 * insns is a QEMU TCG plugin (plugin API version 1, QEMU 7.2) that counts
 * the instructions a board executes: those of the guest's kernel (virtual
 * addresses in the upper half), of its user space (the rest), and of
 * Ferry's image (lo <= address < hi, its text), each of Ferry's
 * translation blocks by address. Counts are not times -- a system
 * register access or a TLB miss costs far more than an add under TCG --
 * but they do not drift with the host, which this host's timings do.
 *
 * When the file named by trigger= exists, the plugin writes its counts to
 * out=.N (N counting from 0) and removes the trigger: "# kern K user U
 * ferry F" then "address instructions executions translations" per
 * block of Ferry's. cmd/ferry-bench -tcg-insns builds and reads it.
 *
 *   -plugin insns.so,trigger=/tmp/x.trigger,out=/tmp/x,lo=401ff000,hi=405b6000
 */
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* The few declarations of qemu-plugin.h (QEMU 7.2) it uses. */
typedef uint64_t qemu_plugin_id_t;
struct qemu_plugin_tb;
typedef struct qemu_info_t qemu_info_t;
enum qemu_plugin_op { QEMU_PLUGIN_INLINE_ADD_U64 };
typedef void (*qemu_plugin_vcpu_tb_trans_cb_t)(qemu_plugin_id_t, struct qemu_plugin_tb *);
extern void qemu_plugin_register_vcpu_tb_trans_cb(qemu_plugin_id_t, qemu_plugin_vcpu_tb_trans_cb_t);
extern uint64_t qemu_plugin_tb_vaddr(const struct qemu_plugin_tb *);
extern size_t qemu_plugin_tb_n_insns(const struct qemu_plugin_tb *);
extern void qemu_plugin_register_vcpu_tb_exec_inline(struct qemu_plugin_tb *, enum qemu_plugin_op, void *, uint64_t);

__attribute__((visibility("default"))) int qemu_plugin_version = 1;

/* Ferry's blocks, by address and length, in an open-addressed table. */
#define NTAB (1 << 20)
struct block {
	uint64_t key, vaddr, insns, execs, trans;
};
static struct block *tab;
static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static uint64_t kern, user, ferry;
static uint64_t lo, hi;
static char trigger[512], out[512];

static struct block *lookup(uint64_t key)
{
	uint64_t h = (key * 0x9E3779B97F4A7C15ull) >> 44;
	for (int n = 0; n < NTAB; n++, h++) {
		struct block *b = &tab[h & (NTAB - 1)];
		if (b->key == key || b->key == 0) {
			b->key = key;
			return b;
		}
	}
	return NULL;
}

static void dump(int n)
{
	char path[600];
	snprintf(path, sizeof path, "%s.%d", out, n);
	FILE *f = fopen(path, "w");
	if (!f)
		return;
	pthread_mutex_lock(&lock);
	fprintf(f, "# kern %llu user %llu ferry %llu\n", (unsigned long long)kern,
		(unsigned long long)user, (unsigned long long)ferry);
	for (int i = 0; i < NTAB; i++) {
		struct block *b = &tab[i];
		if (b->key)
			fprintf(f, "%llx %llu %llu %llu\n", (unsigned long long)b->vaddr,
				(unsigned long long)b->insns, (unsigned long long)b->execs,
				(unsigned long long)b->trans);
	}
	pthread_mutex_unlock(&lock);
	fclose(f);
}

static void *watch(void *arg)
{
	(void)arg;
	for (int n = 0;; usleep(20000)) {
		if (access(trigger, F_OK) == 0) {
			dump(n++);
			unlink(trigger);
		}
	}
	return NULL;
}

static void translated(qemu_plugin_id_t id, struct qemu_plugin_tb *tb)
{
	(void)id;
	uint64_t va = qemu_plugin_tb_vaddr(tb), n = qemu_plugin_tb_n_insns(tb);
	if (va < lo || va >= hi) {
		qemu_plugin_register_vcpu_tb_exec_inline(tb, QEMU_PLUGIN_INLINE_ADD_U64,
			va >= 0xffff000000000000ull ? &kern : &user, n);
		return;
	}
	qemu_plugin_register_vcpu_tb_exec_inline(tb, QEMU_PLUGIN_INLINE_ADD_U64, &ferry, n);
	pthread_mutex_lock(&lock);
	struct block *b = lookup(va ^ n << 48);
	if (b) {
		b->vaddr = va;
		b->insns = n;
		b->trans++;
	}
	pthread_mutex_unlock(&lock);
	if (b)
		qemu_plugin_register_vcpu_tb_exec_inline(tb, QEMU_PLUGIN_INLINE_ADD_U64, &b->execs, 1);
}

__attribute__((visibility("default"))) int qemu_plugin_install(qemu_plugin_id_t id,
	const qemu_info_t *info, int argc, char **argv)
{
	(void)info;
	for (int i = 0; i < argc; i++) {
		if (!strncmp(argv[i], "trigger=", 8))
			snprintf(trigger, sizeof trigger, "%s", argv[i] + 8);
		else if (!strncmp(argv[i], "out=", 4))
			snprintf(out, sizeof out, "%s", argv[i] + 4);
		else if (!strncmp(argv[i], "lo=", 3))
			lo = strtoull(argv[i] + 3, NULL, 16);
		else if (!strncmp(argv[i], "hi=", 3))
			hi = strtoull(argv[i] + 3, NULL, 16);
	}
	if (!trigger[0] || !out[0]) {
		fprintf(stderr, "insns: trigger= and out= are needed\n");
		return -1;
	}
	tab = calloc(NTAB, sizeof *tab);
	if (!tab)
		return -1;
	qemu_plugin_register_vcpu_tb_trans_cb(id, translated);
	pthread_t t;
	return pthread_create(&t, NULL, watch, NULL);
}
