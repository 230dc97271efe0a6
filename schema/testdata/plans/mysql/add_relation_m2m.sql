-- up
CREATE TABLE `posts_editors` (`id` char(36) NOT NULL, `owner_id` char(36) NULL, `created_at` datetime(6) NOT NULL, `updated_at` datetime(6) NOT NULL, `posts_id` char(36) NOT NULL, `authors_id` char(36) NOT NULL, PRIMARY KEY (`id`)) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;
CREATE INDEX `strata_ix_e68fba2590ba` ON `posts_editors` (`authors_id`, `id`) ALGORITHM=INPLACE LOCK=NONE;
CREATE UNIQUE INDEX `strata_ux_c0201f7ce80f` ON `posts_editors` (`posts_id`, `authors_id`) ALGORITHM=INPLACE LOCK=NONE;
ALTER TABLE `posts_editors` ADD CONSTRAINT `strata_fk_c0201f7ce80f_a` FOREIGN KEY (`posts_id`) REFERENCES `posts` (`id`) ON DELETE CASCADE;
ALTER TABLE `posts_editors` ADD CONSTRAINT `strata_fk_c0201f7ce80f_b` FOREIGN KEY (`authors_id`) REFERENCES `authors` (`id`) ON DELETE CASCADE;
-- down
ALTER TABLE `posts_editors` DROP FOREIGN KEY `strata_fk_c0201f7ce80f_b`;
ALTER TABLE `posts_editors` DROP FOREIGN KEY `strata_fk_c0201f7ce80f_a`;
DROP INDEX `strata_ux_c0201f7ce80f` ON `posts_editors`;
DROP INDEX `strata_ix_e68fba2590ba` ON `posts_editors`;
DROP TABLE `posts_editors`;
