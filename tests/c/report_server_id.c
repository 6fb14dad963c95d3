/*
 * libmodbus's report server id (modbus_report_slave_id, FC 17) against the
 * Rust server. Run by tests/desktop_libmodbus.rs:
 *
 *   report_server_id HOST PORT
 *
 * prints the bytes after the response's byte count as hex ("2a ff 4d 42"),
 * or "exception N" for an exception response, then a read of holding
 * register 0 ("register V"). Exits non-zero on any other failure.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>

#include <modbus.h>

int main(int argc, char *argv[])
{
    uint8_t bytes[MODBUS_MAX_PDU_LENGTH];
    uint16_t reg;
    modbus_t *ctx;
    int rc, i;

    if (argc != 3) {
        fprintf(stderr, "usage: %s HOST PORT\n", argv[0]);
        return 2;
    }
    ctx = modbus_new_tcp(argv[1], atoi(argv[2]));
    if (ctx == NULL || modbus_connect(ctx) == -1) {
        fprintf(stderr, "connect: %s\n", modbus_strerror(errno));
        return 1;
    }
    rc = modbus_report_slave_id(ctx, (int)sizeof(bytes), bytes);
    if (rc >= 0) {
        for (i = 0; i < rc; i++) {
            printf(i == 0 ? "%02x" : " %02x", bytes[i]);
        }
        printf("\n");
    } else if (errno > MODBUS_ENOBASE && errno < MODBUS_ENOBASE + 0x0C) {
        printf("exception %d\n", errno - MODBUS_ENOBASE);
    } else {
        fprintf(stderr, "report server id: %s\n", modbus_strerror(errno));
        return 1;
    }
    /* The connection still serves. */
    if (modbus_read_registers(ctx, 0, 1, &reg) != 1) {
        fprintf(stderr, "read: %s\n", modbus_strerror(errno));
        return 1;
    }
    printf("register %u\n", reg);
    modbus_close(ctx);
    modbus_free(ctx);
    return 0;
}
