/*
 * serial.c — the console: COM1, a 16550 UART at I/O port 0x3f8, 115200 8N1,
 * polled (no interrupts), "\n" sent as "\r\n".
 */
#include "cpu.h"
#include "kernel.h"

#define COM1 0x3f8
enum { THR = 0, IER = 1, DLL = 0, DLH = 1, FCR = 2, LCR = 3, MCR = 4, LSR = 5 };
#define LSR_THR_EMPTY 0x20

void serial_init(void)
{
	outb(COM1 + IER, 0x00); /* no interrupts */
	outb(COM1 + LCR, 0x80); /* divisor latch */
	outb(COM1 + DLL, 1);	/* 115200 / 1 */
	outb(COM1 + DLH, 0);
	outb(COM1 + LCR, 0x03); /* 8N1 */
	outb(COM1 + FCR, 0xc7); /* FIFOs on, cleared */
	outb(COM1 + MCR, 0x03); /* DTR, RTS */
}

static void put(char c)
{
	while (!(inb(COM1 + LSR) & LSR_THR_EMPTY))
		cpu_relax();
	outb(COM1 + THR, (uint8_t)c);
}

void serial_write(const char *s, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		if (s[i] == '\n')
			put('\r');
		put(s[i]);
	}
}
