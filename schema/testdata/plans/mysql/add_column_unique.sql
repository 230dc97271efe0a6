-- up
ALTER TABLE `posts` ADD COLUMN `code` varchar(20) NULL;
CREATE UNIQUE INDEX `strata_ix_c0201f7ce80f` ON `posts` (`code`) ALGORITHM=INPLACE LOCK=NONE;
-- down
DROP INDEX `strata_ix_c0201f7ce80f` ON `posts`;
ALTER TABLE `posts` DROP COLUMN `code`;
