# goheap — build, run and test.
#
#   make            the UEFI image (build/esp.img) and the hosted test runners
#   make run        boot the kernel in QEMU, serial on this terminal (SMP=4 MEM=1G)
#   make test       every test, hosted and in-kernel; ends with "N passed, N failed"
#   make debug      boot paused, with QEMU's gdb stub on :1234 (see README)
#   make bench      page heap and malloc benchmarks (hosted), tables in build/bench/
#   make bench-kernel  the allocation workloads inside the kernel under QEMU (-smp 1-8),
#                   goheap against two hobby-kernel allocators: build/bench/kernel.md
#   make bench-kernel-gc  the collector's pauses inside the kernel (-smp 1, 2, 4):
#                   build/bench/kernel-gc.md
#   make lint       cppcheck over the C sources; make format applies .clang-format
#   make clean      remove build/
#
# Everything built goes under build/. CC=clang builds everything with clang.

CC      ?= gcc
ifeq ($(origin CC),default)
CC      := gcc
endif
OBJCOPY ?= objcopy
SMP     ?= 4
MEM     ?= 1G
B       := build

WARN    := -Wall -Wextra -Wno-unused-parameter
# The kernel: freestanding, no SSE (interrupt handlers do not save it),
# frame pointers for backtraces, identity mapped at a fixed address. POPCNT
# (every x86-64 CPU since 2008) serves the page allocator's bitmaps.
KCFLAGS := -std=c11 -O2 -g $(WARN) -ffreestanding -fno-pic -fno-pie -mno-red-zone -mpopcnt \
           -mgeneral-regs-only -fno-stack-protector -fno-omit-frame-pointer \
           -fno-asynchronous-unwind-tables -mcmodel=small \
           -DGH_PORT_INLINE_H='"../kernel/goheap_port_inline.h"'
KLDFLAGS := -nostdlib -static -Wl,-T,kernel/kernel.ld -Wl,-z,max-page-size=4096 \
            -Wl,--build-id=none

# The loader: a GNU-EFI application, an ELF shared object turned into PE32+.
EFI_INC  := /usr/include/efi
EFI_LIB  := /usr/lib
ECFLAGS  := -std=c11 -O2 $(WARN) -I$(EFI_INC) -I$(EFI_INC)/x86_64 -fpic -ffreestanding \
            -fno-stack-protector -fno-stack-check -fshort-wchar -mno-red-zone -DGNU_EFI_USE_MS_ABI
ELDFLAGS := -nostdlib -shared -Bsymbolic -znocombreloc -T $(EFI_LIB)/elf_x86_64_efi.lds \
            -L$(EFI_LIB) $(EFI_LIB)/crt0-efi-x86_64.o

# The hosted runner: the same test cases in Linux user space.
HCFLAGS := -std=gnu11 -O1 -g $(WARN) -pthread -mpopcnt -DGH_PORT_INLINE_H='"hosted/port_inline.h"'
SANFLAGS := -fsanitize=address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer

ALLOC_SRC  := $(wildcard alloc/*.c) $(wildcard alloc/*.S)
KERNEL_SRC := $(wildcard kernel/*.c) $(wildcard kernel/*.S) $(ALLOC_SRC)
KTEST_SRC  := tests/runner.c $(wildcard tests/cases/*.c) $(wildcard tests/kernel/*.c) \
              $(wildcard tests/bench/workloads.c)
HOSTED_LIB_SRC := $(ALLOC_SRC) alloc/hosted/port.c
HOSTED_SRC := tests/hosted/main.c tests/runner.c $(wildcard tests/cases/*.c) kernel/fmt.c \
              $(wildcard tests/hosted/*_test.c) \
              $(HOSTED_LIB_SRC)
HEADERS    := $(wildcard kernel/*.h boot/*.h tests/*.h tests/bench/*.h alloc/*.h alloc/include/*.h \
                alloc/hosted/*.h)

KOBJ := $(patsubst %,$(B)/kobj/%.o,$(KERNEL_SRC) $(KTEST_SRC))

.PHONY: all deps run test debug clean hosted image lint format bench bench-kernel bench-kernel-gc
all: image hosted
image: $(B)/esp.img
hosted: $(B)/hosted/ghtest $(B)/hosted/ghtest-asan $(B)/hosted/ghtest-tsan $(B)/hosted/libgoheap.a \
        $(B)/hosted/libgoheap.so

deps:
	@scripts/deps.sh

# --- kernel -----------------------------------------------------------------
$(B)/kobj/%.c.o: %.c $(HEADERS) | deps
	@mkdir -p $(dir $@)
	$(CC) $(KCFLAGS) -c $< -o $@

$(B)/kobj/%.S.o: %.S | deps
	@mkdir -p $(dir $@)
	$(CC) $(KCFLAGS) -c $< -o $@

$(B)/kernel/kernel.elf: $(KOBJ) kernel/kernel.ld
	@mkdir -p $(dir $@)
	$(CC) $(KCFLAGS) $(KLDFLAGS) $(KOBJ) -o $@

# The ESP carries the kernel without debug info; gdb uses kernel.elf.
$(B)/kernel/kernel.bin: $(B)/kernel/kernel.elf
	$(OBJCOPY) --strip-debug $< $@

# --- loader -----------------------------------------------------------------
$(B)/boot/loader.o: boot/loader.c boot/bootinfo.h | deps
	@mkdir -p $(dir $@)
	$(CC) $(ECFLAGS) -c $< -o $@

$(B)/boot/loader.so: $(B)/boot/loader.o
	ld $(ELDFLAGS) $< -o $@ -lefi -lgnuefi

$(B)/boot/BOOTX64.EFI: $(B)/boot/loader.so
	$(OBJCOPY) -j .text -j .sdata -j .data -j .dynamic -j .dynsym -j .rel -j .rela \
	  -j .rel.* -j .rela.* -j .reloc --target efi-app-x86_64 --subsystem=10 $< $@

# --- the ESP: a FAT image built with mtools, no root, no loop device --------
$(B)/esp.img: $(B)/boot/BOOTX64.EFI $(B)/kernel/kernel.bin
	rm -f $@.tmp
	mformat -i $@.tmp -C -T 32768 -h 64 -s 32 -v GOHEAP ::
	mmd -i $@.tmp ::/EFI ::/EFI/BOOT ::/goheap
	mcopy -i $@.tmp $(B)/boot/BOOTX64.EFI ::/EFI/BOOT/BOOTX64.EFI
	mcopy -i $@.tmp $(B)/kernel/kernel.bin ::/goheap/kernel.elf
	mv $@.tmp $@

# --- hosted runners ---------------------------------------------------------
# libgoheap.a: goheap with the hosted port, for programs that link it.
$(B)/hosted/libgoheap.a: $(HOSTED_LIB_SRC) $(HEADERS) | deps
	@mkdir -p $(B)/hosted/lib
	cd $(B)/hosted/lib && $(CC) $(HCFLAGS) -O2 -c $(addprefix $(CURDIR)/,$(HOSTED_LIB_SRC))
	ar rcs $@ $(B)/hosted/lib/*.o

# libgoheap.so: the C library's malloc family on goheap, for LD_PRELOAD. One
# unit with link-time optimisation, so the port's per-thread slot lookup is
# inlined into the fast paths; calls inside the library bind locally.
$(B)/hosted/libgoheap.so: $(HOSTED_LIB_SRC) alloc/hosted/libc.c $(HEADERS) | deps
	@mkdir -p $(dir $@)
	$(CC) $(HCFLAGS) -O2 -fPIC -shared -flto -fno-semantic-interposition \
	  -Wl,-Bsymbolic-functions $(HOSTED_LIB_SRC) alloc/hosted/libc.c -o $@

$(B)/hosted/ghtest: $(HOSTED_SRC) $(HEADERS) | deps
	@mkdir -p $(dir $@)
	$(CC) $(HCFLAGS) $(HOSTED_SRC) -o $@

$(B)/hosted/ghtest-asan: $(HOSTED_SRC) $(HEADERS) | deps
	@mkdir -p $(dir $@)
	$(CC) $(HCFLAGS) $(SANFLAGS) $(HOSTED_SRC) -o $@

# ThreadSanitizer: goheap's lock-free paths across threads standing in for CPUs.
$(B)/hosted/ghtest-tsan: $(HOSTED_SRC) $(HEADERS) | deps
	@mkdir -p $(dir $@)
	$(CC) $(HCFLAGS) -fsanitize=thread $(HOSTED_SRC) -o $@

# --- running ----------------------------------------------------------------
# make run: the self tests, then the collector's demonstration (gcdemo).
CMDLINE ?= gcdemo
run: all
	scripts/run-qemu.sh --smp $(SMP) --mem $(MEM) $(if $(CMDLINE),--cmdline "$(CMDLINE)")

debug: all
	@echo "QEMU waits for gdb. In another terminal:"
	@echo "  gdb $(B)/kernel/kernel.elf -ex 'target remote :1234' -ex 'hbreak kmain' -ex continue"
	scripts/run-qemu.sh --smp $(SMP) --mem $(MEM) --gdb $(if $(CMDLINE),--cmdline "$(CMDLINE)")

# Benchmarks (hosted); results under build/bench/.
$(B)/bench/pageheap: tests/bench/pageheap.c $(B)/hosted/libgoheap.a
	@mkdir -p $(dir $@)
	$(CC) -std=gnu11 -O2 -g $(WARN) -pthread -mpopcnt -DGH_PORT_INLINE_H='"hosted/port_inline.h"' \
	  $< $(B)/hosted/libgoheap.a -o $@

# The workloads of tests/bench/workloads.c (after mimalloc-bench's) through
# the C library's malloc, so LD_PRELOAD picks the allocator: built with
# everything, since make test runs them at the smoke scale
# (scripts/bench-smoke.sh).
$(B)/bench/workloads: tests/bench/workloads_main.c tests/bench/workloads.c tests/bench/workload.h \
                      tests/bench/peak_rss.h \
                      | deps
	@mkdir -p $(dir $@)
	$(CC) -std=gnu11 -O2 -g $(WARN) -pthread tests/bench/workloads_main.c tests/bench/workloads.c \
	  -o $@
all: $(B)/bench/workloads

# The collector benchmark: goheap's gh_new against the Boehm collector
# (Debian's libgc-dev, which scripts/deps.sh installs).
$(B)/bench/gcbench: tests/bench/gcbench.c tests/bench/peak_rss.h alloc/include/goheap.h \
                    alloc/hosted/port_hosted.h \
                    $(B)/hosted/libgoheap.a | deps
	@mkdir -p $(dir $@)
	$(CC) -std=gnu11 -O2 -g $(WARN) -pthread $< $(B)/hosted/libgoheap.a -lgc -lm -o $@

# The malloc benchmark: libgoheap.so against glibc, jemalloc, tcmalloc and
# mimalloc through LD_PRELOAD (scripts/bench-malloc.sh), tables in malloc.md,
# plots in *.png; then the collector against Boehm's (scripts/bench-gc.sh),
# tables in gc.md, plots in gc-*.png.
bench: $(B)/bench/pageheap $(B)/bench/workloads $(B)/bench/gcbench hosted
	GOHEAP_HOSTED_MEM=4G $(B)/bench/pageheap | tee $(B)/bench/pageheap.md
	scripts/bench-malloc.sh
	scripts/bench-gc.sh

# DEMO=fail|hang|crash adds a case that fails, hangs or crashes on purpose.
test: all
	scripts/test.sh $(if $(DEMO),--demo $(DEMO))

# alloc/sizeclasses.h is generated (scripts/mksizeclasses.py): not reformatted.
C_SOURCES = $(filter-out alloc/sizeclasses.h,$(shell git ls-files '*.c' '*.h' 2>/dev/null))

lint:
	cppcheck -q --error-exitcode=1 --std=c11 --enable=warning,performance,portability \
	  --inline-suppr -D__x86_64__ -DGH_PORT_INLINE_H='"hosted/port_inline.h"' \
	  -I kernel -I boot -I tests kernel tests alloc

format:
	clang-format -i $(C_SOURCES)

clean:
	rm -rf $(B)

# The workloads of tests/bench/workloads.c inside the reference kernel under
# QEMU with -smp 1, 2, 4 and 8, for goheap and two hobby-kernel allocators
# (kernel/bench.c, kernel/bench_alloc.c): build/bench/kernel.md, kernel.png.
bench-kernel: image
	scripts/bench-kernel.sh

# The collector's pauses inside the reference kernel under QEMU with -smp 1,
# 2 and 4 (kernel/gcbench.c): per-cycle pause distribution in TSC cycles and
# µs, longest stop, GC CPU share: build/bench/kernel-gc.md.
bench-kernel-gc: image
	scripts/bench-kernel-gc.sh
