-- up
ALTER TABLE `posts` ADD COLUMN `published` tinyint(1) NOT NULL DEFAULT 0;
-- down
ALTER TABLE `posts` DROP COLUMN `published`;
