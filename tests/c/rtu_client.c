/* libmodbus in RTU mode (modbus_new_rtu) against the Rust server on a
 * serial line (a PTY of a socat pair): tests/rtu_serial.rs builds and runs
 * it as `rtu_client DEVICE BAUD UNIT`, the server's holding registers
 * 0..5 being 100, 200, 300, 400, 500. Prints failures and a
 * "N passed, N failed" line; exits non-zero on any failure. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <modbus.h>

static int passed, failed;

static void check(const char *name, int ok) {
    if (ok) {
        passed++;
    } else {
        failed++;
        printf("FAIL [libmodbus rtu] %s (%s)\n", name, modbus_strerror(errno));
    }
}

int main(int argc, char **argv) {
    if (argc != 4) {
        fprintf(stderr, "usage: %s DEVICE BAUD UNIT\n", argv[0]);
        return 2;
    }
    modbus_t *ctx = modbus_new_rtu(argv[1], atoi(argv[2]), 'E', 8, 1);
    if (ctx == NULL || modbus_set_slave(ctx, atoi(argv[3])) != 0 || modbus_connect(ctx) != 0) {
        fprintf(stderr, "connect: %s\n", modbus_strerror(errno));
        return 1;
    }
    modbus_set_response_timeout(ctx, 1, 0);

    uint16_t regs[125];
    check("FC 3", modbus_read_registers(ctx, 0, 5, regs) == 5 && regs[0] == 100 && regs[4] == 500);
    uint16_t words[120];
    for (int i = 0; i < 120; i++) words[i] = (uint16_t)(0xA000 + i);
    check("FC 16", modbus_write_registers(ctx, 200, 120, words) == 120);
    memset(regs, 0, sizeof regs);
    check("FC 3 back", modbus_read_registers(ctx, 200, 120, regs) == 120 && memcmp(regs, words, sizeof words) == 0);
    check("FC 6", modbus_write_register(ctx, 10, 0xBEEF) == 1);
    check("FC 22", modbus_mask_write_register(ctx, 10, 0x00FF, 0x0100) == 1);
    check("FC 3 after FC 22", modbus_read_registers(ctx, 10, 1, regs) == 1 && regs[0] == 0x01EF);
    uint8_t bits[20] = {1, 0, 1, 1, 0, 0, 1, 0, 1, 1, 1};
    check("FC 15", modbus_write_bits(ctx, 40, 11, bits) == 11);
    uint8_t back[20] = {0};
    check("FC 1", modbus_read_bits(ctx, 40, 11, back) == 11 && memcmp(bits, back, 11) == 0);
    check("FC 5", modbus_write_bit(ctx, 60, 1) == 1);
    uint16_t rw[4];
    uint16_t values[2] = {7, 8};
    check("FC 23", modbus_write_and_read_registers(ctx, 500, 2, values, 499, 4, rw) == 4 && rw[1] == 7 && rw[2] == 8);
    errno = 0;
    check("FC 3 past the end: exception 2",
          modbus_read_registers(ctx, 0xFFFF, 2, regs) == -1 && errno == EMBXILADD);
    uint8_t id[64];
    check("FC 17 (no server id: exception 1)", modbus_report_slave_id(ctx, sizeof id, id) == -1 && errno == EMBXILFUN);

    /* Broadcast: executed, not answered (libmodbus 3.1.6 waits for an
     * answer to it, and times out). */
    modbus_set_slave(ctx, MODBUS_BROADCAST_ADDRESS);
    errno = 0;
    int rc = modbus_write_register(ctx, 11, 0x4242);
    check("broadcast FC 6 not answered", rc == 1 || (rc == -1 && errno == ETIMEDOUT));
    modbus_set_slave(ctx, atoi(argv[3]));
    check("broadcast executed", modbus_read_registers(ctx, 11, 1, regs) == 1 && regs[0] == 0x4242);

    modbus_close(ctx);
    modbus_free(ctx);
    printf("libmodbus rtu: %d passed, %d failed\n", passed, failed);
    return failed ? 1 : 0;
}
