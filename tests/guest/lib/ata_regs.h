/* The primary IDE channel's command and control block registers and their bits (ATA/ATAPI-6,
   T13 1410D, 7.x), for the guest programs that drive the disk by PIO. */
#ifndef ATA_REGS_H
#define ATA_REGS_H

#define ATA_DATA 0x1F0
#define ATA_ERROR 0x1F1
#define ATA_NSECT 0x1F2
#define ATA_LBAL 0x1F3
#define ATA_LBAM 0x1F4
#define ATA_LBAH 0x1F5
#define ATA_DEVICE 0x1F6
#define ATA_STATUS 0x1F7 /* read; command on write */
#define ATA_CTRL 0x3F6   /* device control on write, alternate status on read */

#define ST_BSY 0x80
#define ST_DRDY 0x40
#define ST_DF 0x20
#define ST_DRQ 0x08
#define ST_ERR 0x01
#define ERR_UNC 0x40
#define ERR_ABRT 0x04

#define CMD_READ_SECTORS 0x20
#define CMD_WRITE_SECTORS 0x30
#define CMD_FLUSH_CACHE 0xE7

#endif
