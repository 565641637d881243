# bench/common/lock.sh - sourced by the bench scripts that change a kernel
# setting (enable_uring): the kernel-settings lock, on descriptor 9.
#
# kernel_lock takes it (the file ZC_KERNEL_LOCK, default ../.kernel.lock
# beside the checkout; $here is the checkout), unless ZC_KERNEL_LOCK_HELD=1
# says that the caller holds it already (.ci/run, for its whole run): a
# second open of the file would wait for that caller forever.
# kernel_unlock releases it, never a caller's.
kernel_lock() {
	[ -n "${ZC_KERNEL_LOCK_HELD:-}" ] && return 0
	exec 9>>"${ZC_KERNEL_LOCK:-$here/../.kernel.lock}"
	flock 9
}

kernel_unlock() {
	[ -n "${ZC_KERNEL_LOCK_HELD:-}" ] || flock -u 9
}
