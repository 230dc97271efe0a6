-- up
CREATE TABLE `comments` (`id` char(36) NOT NULL, `owner_id` char(36) NULL, `created_at` datetime(6) NOT NULL, `updated_at` datetime(6) NOT NULL, `body` longtext NOT NULL, `rating` int NULL, PRIMARY KEY (`id`)) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;
CREATE INDEX `strata_ix_922d1ca040ca` ON `comments` (`rating`, `id`) ALGORITHM=INPLACE LOCK=NONE;
ALTER TABLE `comments` ADD COLUMN `post` char(36) NULL;
CREATE INDEX `strata_ix_7b4fc008a873` ON `comments` (`post`, `id`) ALGORITHM=INPLACE LOCK=NONE;
ALTER TABLE `comments` ADD CONSTRAINT `strata_fk_3c0af0dec8b2` FOREIGN KEY (`post`) REFERENCES `posts` (`id`) ON DELETE CASCADE;
-- down
ALTER TABLE `comments` DROP FOREIGN KEY `strata_fk_3c0af0dec8b2`;
DROP INDEX `strata_ix_7b4fc008a873` ON `comments`;
ALTER TABLE `comments` DROP COLUMN `post`;
DROP INDEX `strata_ix_922d1ca040ca` ON `comments`;
DROP TABLE `comments`;
