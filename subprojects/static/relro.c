/*
 * RELRO for static musl executables.
 *
 * -Wl,-z,relro,-z,now makes the linker emit a PT_GNU_RELRO segment (GOT,
 * .init_array, .data.rel.ro: e.g. libcurl's protocol handler tables and
 * Mbed TLS's cipher/md descriptor tables, all full of function pointers).
 * For dynamic programs the dynamic linker mprotect()s that range read-only
 * once relocation is done.  musl's static (and static-pie) start-up code
 * never does, so in a static musl binary the range stays writable.  This
 * constructor does what ld.so would: by the time constructors run, musl's
 * static-pie self-relocation (rcrt1.o) is complete and nothing writes to
 * the range again.
 *
 * Linked only into the static build (subprojects/static/meson.build).
 */
#include <link.h>
#include <stdint.h>
#include <sys/mman.h>
#include <unistd.h>

void vaultexec_static_relro(void);

static int protect_relro(struct dl_phdr_info *info, size_t size, void *data)
{
    (void)size;
    (void)data;
    uintptr_t page = (uintptr_t)sysconf(_SC_PAGESIZE);
    if (page == 0 || page == (uintptr_t)-1)
        page = 4096;
    for (size_t i = 0; i < info->dlpi_phnum; i++) {
        const ElfW(Phdr) *ph = &info->dlpi_phdr[i];
        if (ph->p_type != PT_GNU_RELRO)
            continue;
        uintptr_t start = (info->dlpi_addr + ph->p_vaddr) & ~(page - 1);
        uintptr_t end = (info->dlpi_addr + ph->p_vaddr + ph->p_memsz) & ~(page - 1);
        if (end > start)
            (void)mprotect((void *)start, end - start, PROT_READ);
    }
    return 1; /* the first object is the executable itself: stop there */
}

__attribute__((constructor)) void vaultexec_static_relro(void)
{
    dl_iterate_phdr(protect_relro, NULL);
}
