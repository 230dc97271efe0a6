-- up
ALTER TABLE `posts` ADD COLUMN `subtitle` varchar(120) NULL;
-- down
ALTER TABLE `posts` DROP COLUMN `subtitle`;
