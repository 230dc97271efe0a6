-- up
ALTER TABLE `posts` ADD COLUMN `slug` varchar(80) NULL;
ALTER TABLE `posts` MODIFY COLUMN `slug` varchar(80) NOT NULL;
-- down
ALTER TABLE `posts` MODIFY COLUMN `slug` varchar(80) NULL;
ALTER TABLE `posts` DROP COLUMN `slug`;
